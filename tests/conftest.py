"""Pytest setup: the repository root on sys.path and ``backbones`` imported first.

mmsegmentation installs a top-level ``tests`` package into site-packages; this suite runs with
``--import-mode=importlib`` (see pyproject.toml) so that name never matters, and its helpers are imported
as ``contract`` from this folder.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]

import backbones  # noqa: E402,F401  (before torchvision: see backbones/_compat.py)
import torch  # noqa: E402

# Two cores here: one intra-op thread per test process keeps timings stable and avoids oversubscription.
torch.set_num_threads(int(os.environ.get('VITZOO_TEST_THREADS', '2')))

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """A test that calls ``init_default_scope`` (mmdet, mmseg, ...) must not hand that scope to the next
    test: registry lookups of later tests would silently search the wrong toolbox."""
    from mmengine.registry import DefaultScope
    before = set(DefaultScope._instance_dict)
    yield
    for name in [n for n in DefaultScope._instance_dict if n not in before]:
        del DefaultScope._instance_dict[name]


@pytest.fixture(scope='session')
def data_root(tmp_path_factory):
    """The embedded ImageNet, COCO and ADE20K sets, written once per test session (tests only read them or
    add files of their own names)."""
    out = tmp_path_factory.mktemp('embedded')
    subprocess.run([sys.executable, 'tools/misc/make_embedded_data.py', '--out', str(out), '--tasks', 'imagenet',
                    'coco', 'ade20k'], cwd=ROOT, check=True, capture_output=True)
    return out
