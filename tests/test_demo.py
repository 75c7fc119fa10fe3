"""End-to-end run of the README's demo (``tools/demo.py``, what ``bash tools/demo.sh`` runs after the setup).

Every task must visibly learn on the embedded validation sets, with floors a little under what the demo
reaches today (the README gives the ranges; the issue's targets are top-1 90 %, bbox mAP_50 0.5 and mIoU 50):
the classifier well above chance, the detector finding and naming digits, and the segmentor telling the
digits apart, not only the background (which alone scores about 8 over the 11 classes), single-scale and
with ``--tta``; every picture the summary names must be a real PNG. Takes about as long as the demo
(minutes); it writes the embedded data to ``data/embedded`` and the published classifier to
``work_dirs/demo``, as the demo does.
"""
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from contract import ROOT

pytestmark = pytest.mark.slow


def test_the_demo_learns_and_draws_its_pictures(tmp_path):
    """One test, not one per check: a fixture shared by two tests would run the demo twice under an xdist
    mode that spreads a file's tests over both workers (tools/run_tests.sh keeps files whole)."""
    env = dict(os.environ, PYTHON=sys.executable)
    result = subprocess.run([sys.executable, 'tools/demo.py', '--work-dir', str(tmp_path)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / 'summary.json').read_text())
    check_every_task_learns(summary)
    check_pictures_are_pngs_named_on_the_last_screen(summary, result.stdout)


def check_every_task_learns(summary):
    metrics = {row['name']: dict(row['metrics']) for row in summary['rows']}
    assert set(metrics) == {'classification', 'detection', 'segmentation', 'segmentation (--tta)'}
    assert metrics['classification']['top-1 (%)'] >= 75  # chance is 10
    assert metrics['detection']['bbox mAP_50'] >= 0.5
    assert 0 < metrics['detection']['bbox mAP'] <= metrics['detection']['bbox mAP_50']
    assert 0 < metrics['detection']['mask mAP'] <= metrics['detection']['mask mAP_50']
    for name in ('segmentation', 'segmentation (--tta)'):
        # over all 11 classes: background alone gives about 8, so this needs most digits named right
        assert metrics[name]['mIoU (%)'] >= 35


def check_pictures_are_pngs_named_on_the_last_screen(summary, stdout):
    pictures = [p for row in summary['rows'] for p in row['pictures']] + [summary['loss_curves']]
    # predictions of each task, the classifier's Grad-CAM and the loss curves of the three runs
    assert sorted(os.path.join(os.path.basename(os.path.dirname(p)), os.path.basename(p)) for p in pictures[:-1]) \
        == ['classification/attention.png', 'classification/predictions.png', 'detection/predictions.png',
            'segmentation/predictions.png']
    assert os.path.basename(pictures[-1]) == 'loss_curves.png'
    screen = stdout[stdout.rindex('Demo finished'):]
    for path in pictures:
        assert os.path.relpath(path, ROOT) in screen
        with Image.open(path) as image:
            assert image.format == 'PNG' and min(image.size) >= 64
            pixels = image.convert('L').getextrema()
            assert pixels[1] - pixels[0] > 50  # a drawing, not a blank canvas
