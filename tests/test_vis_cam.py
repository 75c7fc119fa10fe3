"""Tests of ``tools/analysis_tools/vis_cam.py``: Grad-CAM of a backbone stage of a classifier."""
import os

import numpy as np
import pytest
import torch
from contract import ROOT, load_tool
from PIL import Image

CONFIG = os.path.join(ROOT, 'configs', 'gcvit', 'gcvit-demo_2xb64_embedded-in1k.py')
tool = load_tool(os.path.join('tools', 'analysis_tools', 'vis_cam.py'), 'vis_cam')


@pytest.fixture(scope='module')
def image_path(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp('cam') / 'digit.png'
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_grad_cam_is_the_gradient_weighted_stage_map(image_path):
    torch.manual_seed(0)
    model, cfg = tool.build_classifier(CONFIG, 'none', stage=1)
    # the config's normalisation, which mmpretrain keeps beside the model
    assert model.data_preprocessor.mean.flatten().tolist() == pytest.approx(cfg.data_preprocessor.mean)
    inputs = torch.randn(1, 3, 32, 32)
    cam, target, scores = tool.grad_cam(model, inputs, stage=1)
    assert cam.shape == (4, 4)  # stage 1 of a 32x32 input: stride 8
    assert float(cam.min()) >= 0 and float(cam.max()) == pytest.approx(1.0)
    assert target == int(scores.argmax()) and scores.sum().item() == pytest.approx(1.0, abs=1e-5)

    # the same map by hand: stage 1's output on the classifier's path, before the norm of stage 3
    stage_out = {}
    block = model.backbone.stages[1].blocks[-1]
    handle = block.register_forward_hook(lambda module, args, out: stage_out.setdefault('map', out))
    maps = model.backbone(inputs)
    handle.remove()
    logit = model.head(model.neck(maps))[0, target]
    grad, = torch.autograd.grad(logit, stage_out['map'])
    activation, grad = stage_out['map'][0].permute(2, 0, 1), grad[0].permute(2, 0, 1)
    expected = torch.relu((grad.mean(dim=(1, 2), keepdim=True) * activation).sum(0))
    torch.testing.assert_close(cam, (expected / expected.max()).detach(), rtol=1e-4, atol=1e-5)


def test_cli_writes_one_row_per_image(image_path, tmp_path, capsys):
    out = tmp_path / 'cam.png'
    assert tool.main([CONFIG, 'none', image_path, image_path, '--out', str(out), '--size', '96']) == 0
    with Image.open(out) as image:
        assert image.format == 'PNG' and image.size[1] == 2 * 96 + 6 and image.size[0] > 2 * 96
    assert 'Grad-CAM of stage 0 for 2 images' in capsys.readouterr().out


def test_bad_input_is_named_in_one_line(image_path, tmp_path, capsys):
    assert tool.main([CONFIG, 'none', str(tmp_path / 'missing.png'), '--out', str(tmp_path / 'x.png')]) == 2
    assert capsys.readouterr().err.strip() == f'vis_cam.py: error: image {tmp_path / "missing.png"} does not exist'
    with pytest.raises(SystemExit, match=r'--stage 7 is not a stage the classifier runs \(0\.\.3\)'):
        tool.main([CONFIG, 'none', image_path, '--out', str(tmp_path / 'x.png'), '--stage', '7'])
