"""Mixed precision, graph capture and deployment export of every backbone family (issue 11).

* bfloat16 and float16 autocast: finite and close to float32; attention stays finite in float16 where the
  unscaled ``q k^T`` would overflow;
* ``torch.compile(fullgraph=True)`` (no graph break) at two sizes and with ``dynamic=True``, eager's numbers;
* ``torch.export`` with symbolic height and width;
* ``tools/deployment/export_onnx.py`` on real configs, checked in onnxruntime;
* ``--amp`` on a CPU: ``tools/train.py`` trains and ``tools/test.py`` tests under bfloat16 autocast;
  ``compile=True`` in a config trains.

Small archs (those of the per-family tests) keep it quick; compiling with inductor is marked slow.
"""
import os
import re
import subprocess
import sys

import pytest
import torch

from contract import ROOT, build_backbone

GCVIT = dict(type='backbones.GCViT', arch=dict(embed_dims=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4),
                                               mlp_ratio=2., layer_scale=1e-5), window_size=3, drop_path_rate=0.)
DAVIT = dict(type='backbones.DaViT', arch=dict(embed_dims=[16, 32, 48, 64], depths=[1, 1, 2, 1],
                                               num_heads=[1, 2, 3, 4], window_size=3), drop_path_rate=0.)
VIT = dict(type='backbones.ViT', arch=dict(embed_dims=64, depth=3, num_heads=2, mlp_dims=128, patch_size=16),
           out_indices=(0, 1, 2))
GMF = dict(type='backbones.GroupMixFormer', arch=dict(embed_dims=[20, 40, 40, 80], depths=[1, 1, 2, 1],
                                                      mlp_ratios=[4, 4, 2, 2]), drop_path_rate=0.)
FAMILIES = [
    pytest.param(GCVIT, id='gcvit'),
    pytest.param(DAVIT, id='davit'),
    pytest.param(VIT, id='vit'),
    pytest.param(GMF, id='groupmixformer'),
]
# Two sizes that need different padding in every family. Neither has a stage with a single window row or
# column: reshapes of windows ask whether a dimension is 1, so such sizes get a graph of their own (the ONNX
# exporter traces size-obliviously and serves them with the same graph).
SIZES = ((128, 160), (160, 224))


def _model(cfg):
    torch.manual_seed(0)
    return build_backbone(cfg).eval()


def _max_error(outs, refs):
    return max(float((o.float() - r).abs().max() / r.abs().max()) for o, r in zip(outs, refs))


# ------------------------------------------------------------------------------------- autocast
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16], ids=['bf16', 'fp16'])
@pytest.mark.parametrize('cfg', FAMILIES)
def test_autocast_runs_close_to_float32(cfg, dtype):
    model = _model(cfg)
    x = torch.randn(2, 3, 97, 131)
    with torch.no_grad():
        refs = model(x)
        with torch.autocast('cpu', dtype=dtype):
            outs = model(x)
    assert all(o.dtype in (dtype, torch.float32) and torch.isfinite(o).all() for o in outs)
    # relative to the largest output: bf16 keeps 8 mantissa bits, fp16 11
    assert _max_error(outs, refs) < (5e-2 if dtype == torch.bfloat16 else 1e-2)


@pytest.mark.parametrize('fused', [True, False], ids=['sdpa', 'plain'])
def test_attention_finite_in_float16_where_unscaled_logits_overflow(fused):
    from backbones.layers import attention
    torch.manual_seed(0)
    q = torch.randn(2, 2, 49, 64) * 60  # |q.k| reaches ~1e5 > 65504; times 64**-0.5, ~1.3e4
    k = torch.randn(2, 2, 49, 64) * 60
    v = torch.randn(2, 2, 49, 64)
    bias = torch.randn(1, 2, 49, 49)
    assert not torch.isfinite(q.half() @ k.half().transpose(-2, -1)).all()  # the case is real
    ref = attention(q.double(), k.double(), v.double(), bias.double(), fused=False)
    with torch.autocast('cpu', dtype=torch.float16):
        out = attention(q.half(), k.half(), v.half(), bias, fused=fused)
    assert out.dtype == torch.float16 and torch.isfinite(out).all()
    torch.testing.assert_close(out.double(), ref, atol=2e-2, rtol=0)


def test_cpu_training_kernel_choice():
    """SDPA's CPU backward is slower than the plain product for short low-precision sequences and with a
    learned bias (see fused_kernel_pays)."""
    from backbones.layers import PLAIN_BACKWARD_MAX_KEYS, fused_kernel_pays
    assert PLAIN_BACKWARD_MAX_KEYS == 576

    def pays(keys, dtype=torch.bfloat16, grad=True, learned_bias=None):
        q = torch.randn(1, 1, 8, 4, dtype=dtype, requires_grad=grad)
        k = torch.randn(1, 1, keys, 4, dtype=dtype)
        bias = None if learned_bias is None else torch.zeros(1, 1, 8, keys, requires_grad=learned_bias)
        return fused_kernel_pays(k, q, k, bias=bias)

    assert not pays(49) and not pays(576) and not pays(576, torch.float16)
    assert pays(577) and pays(3136)  # long sequences: SDPA's tiled backward wins
    assert pays(49, torch.float32) and pays(49, grad=False)
    # a bias that needs a gradient sends SDPA to its unfused math on the CPU; a fixed one does not
    assert not pays(3136, torch.float32, learned_bias=True) and pays(3136, torch.float32, learned_bias=False)
    with torch.no_grad():
        assert pays(49) and pays(49, learned_bias=True)


# ------------------------------------------------------------------------------------ torch.compile
def _graph_counter():
    graphs = []

    def backend(gm, example_inputs):  # a documented custom backend: runs the captured graph as is
        graphs.append(gm)
        return gm.forward

    return backend, graphs


@pytest.mark.slow  # about a minute per family on 2 busy cores: symbolic shapes through four stages
@pytest.mark.parametrize('cfg', FAMILIES)
def test_compile_fullgraph_two_sizes_and_dynamic(cfg):
    """fullgraph=True raises on any graph break; with dynamic=True one graph serves both sizes."""
    torch.compiler.reset()
    model = _model(cfg)
    backend, graphs = _graph_counter()
    compiled = torch.compile(model, fullgraph=True, dynamic=True, backend=backend)
    for size in SIZES:
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            for out, ref in zip(compiled(x), model(x)):
                torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert len(graphs) == 1, f'{len(graphs)} graphs for two sizes: a shape-dependent branch'


@pytest.mark.slow
@pytest.mark.parametrize('cfg', FAMILIES)
def test_inductor_fullgraph_matches_eager(cfg):
    torch.compiler.reset()
    model = _model(cfg)
    compiled = torch.compile(model, fullgraph=True, dynamic=False)
    x = torch.randn(2, 3, *SIZES[0])
    with torch.no_grad():
        for out, ref in zip(compiled(x), model(x)):
            torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------------- torch.export
@pytest.mark.slow
@pytest.mark.parametrize('cfg', FAMILIES)
def test_export_with_dynamic_height_and_width(cfg):
    model = _model(cfg)
    height = 32 * torch.export.Dim('height_blocks', min=4, max=64)
    width = 32 * torch.export.Dim('width_blocks', min=4, max=64)
    name = 'x'
    program = torch.export.export(model, (torch.randn(2, 3, *SIZES[0]), ), dynamic_shapes={name: {2: height, 3: width}})
    for size in SIZES:
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            for out, ref in zip(program.module()(x), model(x)):
                torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_groupmixformer_exports_at_any_size():
    """Not only multiples of 32. GroupMixFormer's strided convs give maps of (S - 1) // 4 + 1, ... pixels, and
    turning a channels_last map into tokens collapses H and W, whose stride torch computes as
    Min(C, C * W') (torch's own sympy Min does not simplify it). The contiguity and memory-format checks of the
    next view and conv then guard on Eq(W' * Min(C, C * W'), C * W'): true for every size, but not provable
    from a range, so a named ``Dim`` raises ConstraintViolationError; ``Dim.DYNAMIC`` keeps such guards and
    only refuses a specialisation."""
    from torch.export import Dim
    model = _model(GMF)
    dims = {0: Dim.DYNAMIC(min=1, max=64), 2: Dim.DYNAMIC(min=33, max=1024), 3: Dim.DYNAMIC(min=33, max=1024)}
    program = torch.export.export(model, (torch.randn(2, 3, 64, 64), ), dynamic_shapes={'x': dims})
    for size in ((33, 97), (45, 61), (131, 200)):
        x = torch.randn(3, 3, *size)
        with torch.no_grad():
            for out, ref in zip(program.module()(x), model(x)):
                torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------- ONNX
def _run_tool(args, **kwargs):
    env = dict(os.environ, OMP_NUM_THREADS='2')
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize('config, task, shape', [
    # classifiers at any size: traced off the 32-grid, checked at a second size off it
    ('configs/gcvit/gcvit-demo_2xb64_embedded-in1k.py', 'classification', ('61', '75')),
    ('configs/davit/davit-t_8xb128_in1k.py', 'classification', ('61', '75')),
    ('configs/gcvit/upernet_gcvit-demo_2xb4_embedded-ade20k.py', 'segmentation', ('64', '96')),
    ('configs/gcvit/mask-rcnn_gcvit-demo_fpn_embedded-coco.py', 'detection', ('64', '96')),
])
def test_export_onnx_tool_matches_pytorch(config, task, shape, tmp_path):
    out = tmp_path / 'model.onnx'
    result = _run_tool(['tools/deployment/export_onnx.py', config, str(out), '--shape', *shape, '--dynamic'])
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert f'exported {task} model' in result.stdout and out.stat().st_size > 0
    checked = re.findall(r'at (\d+)x(\d+): max abs error (\S+)', result.stdout)
    # the export size, and another one where H and W stay symbolic (not for UPerNet's adaptive pooling)
    assert len(checked) == (1 if task == 'segmentation' else 2), result.stdout
    assert max(float(error) for *_, error in checked) < 1e-3, result.stdout
    if task == 'classification':
        assert all(int(side) % 32 for h, w, _ in checked for side in (h, w)), result.stdout


@pytest.mark.parametrize('args, message', [
    (['configs/gcvit/no-such.py', 'x.onnx'], 'does not exist'),
    (['configs/gcvit/gcvit-demo_2xb64_embedded-in1k.py', 'x.onnx', '--shape', '16', '64'], '--shape 16 64'),
    (['configs/gcvit/gcvit-demo_2xb64_embedded-in1k.py', 'x.onnx', '--shape', '64'], '--shape 64'),
    (['configs/gcvit/mask-rcnn_gcvit-demo_fpn_embedded-coco.py', 'x.onnx', '--shape', '70', '64', '--dynamic'],
     'detection model must be a multiple of 32'),
])
def test_export_onnx_tool_rejects_bad_arguments_in_one_line(args, message, tmp_path):
    result = _run_tool(['tools/deployment/export_onnx.py', *args], timeout=300)
    assert result.returncode != 0 and message in result.stderr and 'Traceback' not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------- tools: --amp, compile
def test_autocast_optim_wrapper_runs_forward_in_bfloat16_without_loss_scale():
    from mmengine.optim import OptimWrapper

    from backbones.amp import AutocastOptimWrapper
    linear = torch.nn.Linear(4, 4)
    wrapper = AutocastOptimWrapper(optimizer=torch.optim.SGD(linear.parameters(), lr=0.1))
    assert isinstance(wrapper, OptimWrapper) and not hasattr(wrapper, 'loss_scaler')
    with wrapper.optim_context(linear):
        out = linear(torch.randn(2, 4))
    assert out.dtype == torch.bfloat16
    before = linear.weight.detach().clone()
    wrapper.update_params(out.float().square().mean())
    assert linear.weight.dtype == torch.float32 and not torch.equal(linear.weight, before)
    with pytest.raises(ValueError, match='float16'):
        AutocastOptimWrapper(dtype='float16', optimizer=torch.optim.SGD(linear.parameters(), lr=0.1))


@pytest.fixture(scope='module')
def imagenet_root(tmp_path_factory):
    out = tmp_path_factory.mktemp('embedded')
    subprocess.run([sys.executable, 'tools/misc/make_embedded_data.py', '--out', str(out), '--tasks', 'imagenet'],
                   cwd=ROOT, check=True, capture_output=True)
    return out / 'imagenet'


def _demo_options(root):
    options = ['train_cfg.max_epochs=1', 'default_hooks.logger.interval=1']
    for split in ('train', 'val', 'test'):
        options += [f'{split}_dataloader.dataset.data_root={root}', f'{split}_dataloader.dataset.indices=4',
                    f'{split}_dataloader.num_workers=0', f'{split}_dataloader.batch_size=2']
    return options


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU path of --amp')
def test_amp_trains_and_tests_on_cpu(imagenet_root, tmp_path):
    config = 'configs/gcvit/gcvit-demo_2xb64_embedded-in1k.py'
    work_dir = tmp_path / 'work'
    options = _demo_options(imagenet_root)
    result = _run_tool(['tools/train.py', config, '--amp', '--work-dir', str(work_dir), '--cfg-options', *options])
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert 'AutocastOptimWrapper' in log
    losses = [float(v) for v in re.findall(r'\bloss: ([0-9.naif]+)', log)]
    assert losses and all(v == v and v < 1e3 for v in losses)
    result = _run_tool(['tools/test.py', config, str(work_dir / 'epoch_1.pth'), '--amp', '--work-dir', str(work_dir),
                        '--cfg-options', *options])
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert 'accuracy/top1' in result.stdout + result.stderr


def test_eager_optimizer_update_hook_lets_dynamo_compile_a_train_step():
    """mmengine's runner compiles ``train_step``, update included; the parameter groups of a ``paramwise_cfg``
    are ConfigDicts, on which dynamo's optimizer support fails. With the hook the update runs eagerly, the
    forward is captured and training matches eager."""
    from types import SimpleNamespace

    from mmengine.config import ConfigDict
    from mmengine.optim import build_optim_wrapper

    from backbones.runtime import EagerOptimizerUpdateHook
    cfg = ConfigDict(optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.05), clip_grad=dict(max_norm=1.),
                     paramwise_cfg=dict(bias_decay_mult=0.))
    torch.manual_seed(0)
    models = [torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 1)) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    wrappers = [build_optim_wrapper(m, cfg) for m in models]
    assert type(wrappers[0].optimizer.param_groups[0]) is not dict  # ConfigDicts: the case is real
    EagerOptimizerUpdateHook().before_train(SimpleNamespace(optim_wrapper=wrappers[1]))

    def train_step(model, wrapper, x):
        loss = model(x).square().mean()
        wrapper.update_params(loss)
        return loss.detach()

    backend, graphs = _graph_counter()
    compiled = torch.compile(train_step, backend=backend)
    for _ in range(3):
        x = torch.randn(5, 4)
        torch.testing.assert_close(compiled(models[1], wrappers[1], x), train_step(models[0], wrappers[0], x))
    for eager, traced in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(traced, eager)
    assert graphs and any(n.target is torch.nn.functional.linear for g in graphs for n in g.graph.nodes), 'no forward'


def test_prepare_config_adds_the_eager_update_hook_only_with_compile(tmp_path):
    from mmengine.config import Config

    from backbones.runtime import prepare_config
    for compile_cfg, expected in ((None, False), (False, False), (True, True), (dict(backend='eager'), True)):
        cfg = Config(dict(model=dict(type='x'), work_dir=str(tmp_path), compile=compile_cfg))
        types = [h['type'] for h in prepare_config(cfg, 'none').custom_hooks]
        assert ('backbones.EagerOptimizerUpdateHook' in types) == expected, (compile_cfg, types)
        assert len(types) == len(set(types))


@pytest.mark.slow
@pytest.mark.parametrize('amp', [False, pytest.param(True, marks=pytest.mark.skipif(
    torch.cuda.is_available(), reason='the CPU path of --amp'))], ids=['fp32', 'amp'])
def test_compile_option_of_the_runner_trains(imagenet_root, tmp_path, amp):
    """compile=True trains, in float32 and with --amp (bfloat16 autocast)."""
    config = 'configs/gcvit/gcvit-demo_2xb64_embedded-in1k.py'
    # one block per stage halves what inductor compiles (forward and backward); the blocks are the demo's
    options = _demo_options(imagenet_root) + ['compile=True', 'train_cfg.val_interval=100',
                                              'model.backbone.arch.depths=(1,1,1,1)']
    amp_args = ['--amp'] if amp else []
    result = _run_tool(['tools/train.py', config, *amp_args, '--work-dir', str(tmp_path / 'work'),
                        '--cfg-options', *options])
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert 'Model has been "compiled"' in log and 'EagerOptimizerUpdateHook' in log
    assert ('AutocastOptimWrapper' in log) == amp
    losses = [float(v) for v in re.findall(r'\bloss: ([0-9.naif]+)', log)]
    assert re.search(r'Epoch\(train\)\s+\[1\]\[2/2\]', log) and len(losses) == 2 and all(v < 1e3 for v in losses), \
        log[-3000:]
