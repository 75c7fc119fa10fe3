"""GroupMixFormer: the backbone contract, converter parity with the official code, and specifics.

Parity references (``tests/data/groupmixformer_{tiny,m}_reference.json``) hold logits computed by the
official AILab-CVC/GroupMixFormer classifier (SyncBatchNorm swapped for BatchNorm2d, eval mode) on
deterministic random weights (see :func:`contract.seeded_state_dict`); the tests rebuild those weights
in the official layout, convert them with the CLI and compare. Both inputs have sizes divisible by 32,
the only sizes the official model runs at, so they also check that our any-size handling changes
nothing there.
"""
import copy
import os
import pickle
import re
import sys
from unittest import mock

import pytest
import torch
import torch.nn as nn
from contract import (ROOT, build_backbone, build_classifier, load_reference, load_tool, run_converter, run_tool,
                      seeded_state_dict)
from converter_checks import (check_cli_errors, check_dense_load_from_classifier, check_logits,
                              check_refuses_pickled_code, check_unknown_and_missing_keys, official_checkpoint)

from backbones.groupmixformer import GroupMixFormer

CONVERTER = os.path.join('tools', 'model_converters', 'groupmixformer_to_mm.py')
BENCHMARK = os.path.join('tools', 'analysis_tools', 'benchmark.py')


converter = load_tool(CONVERTER, 'groupmixformer_to_mm')


def convert(capsys, *args):
    """Run the converter's command line in this process (the CLI itself runs once as a subprocess)."""
    return run_converter(converter, capsys, *args)


TINY_ARCH = dict(embed_dims=[20, 40, 40, 80], depths=[1, 1, 2, 1], mlp_ratios=[4, 4, 2, 2])
TINY = dict(type='backbones.GroupMixFormer', arch=TINY_ARCH, drop_path_rate=0.)
M_CFG = dict(type='backbones.GroupMixFormer', arch='m', drop_path_rate=0.)


def _randomise_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters (fresh ones would hide folding bugs)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.copy_(0.1 * torch.randn(module.num_features, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(module.num_features, generator=gen))
                module.weight.copy_(1 + 0.1 * torch.randn(module.num_features, generator=gen))
                module.bias.copy_(0.1 * torch.randn(module.num_features, generator=gen))
    return model


# ------------------------------------------------------------------------------------- fuse and copies
@pytest.mark.parametrize('cfg, size', [(TINY, (61, 75)), (M_CFG, (97, 131))])
def test_fuse_folds_batchnorms_same_outputs(cfg, size):
    """``fuse()`` folds the BatchNorms of the stem, patch embeddings, identity segments and aggregators
    into their convs and the qkv projection (torch's fusion helpers): same outputs, only the output
    norms stay; it refuses a model in training mode."""
    model = _randomise_norms(build_backbone(cfg)).eval()
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        expected = model(x)
        fused = copy.deepcopy(model).fuse()
        outputs = fused(x)
    norms = [name for name, m in fused.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms == ['norm0', 'norm1', 'norm2', 'norm3']
    assert fused.stages[1].blocks[0].attn.aggregators[2].conv.pointwise.bias is not None
    for a, b in zip(expected, outputs):
        torch.testing.assert_close(b, a, rtol=0, atol=2e-5 * a.abs().max().item())
    with pytest.raises(RuntimeError, match=re.escape('model.eval()')):
        build_backbone(cfg).train().fuse()


def test_with_cp_updates_batchnorm_statistics_once():
    """The backward pass reruns each checkpointed part; its BatchNorms must not count the batch twice."""
    x = torch.randn(2, 3, 64, 64)
    plain = build_backbone(TINY)
    ckpt = copy.deepcopy(plain)
    ckpt.set_grad_checkpointing(True)
    for model in (plain, ckpt):
        model.train()
        sum(out.sum() for out in model(x)).backward()
    for name, buffer in plain.named_buffers():
        if 'running_' in name or 'num_batches_tracked' in name:
            torch.testing.assert_close(dict(ckpt.named_buffers())[name], buffer, msg=name)
    assert ckpt.stem[0].norm.num_batches_tracked.item() == 1  # one training step, one batch counted


def test_model_copies_and_pickles():
    """A deep copy and a pickled model (plain or fused) give the same numbers."""
    model = _randomise_norms(build_backbone(TINY)).eval()
    x = torch.randn(1, 3, 64, 64)
    for source in (model, copy.deepcopy(model).fuse()):
        with torch.no_grad():
            expected = source(x)
            for copied in (copy.deepcopy(source), pickle.loads(pickle.dumps(source))):
                for a, b in zip(expected, copied(x)):
                    torch.testing.assert_close(b, a, rtol=0, atol=0)


def test_eval_mode_gradients_reach_the_norms():
    """In eval mode with autograd (e.g. saliency maps) every norm's parameters get gradients."""
    model = _randomise_norms(build_backbone(TINY)).eval()
    sum(o.sum() for o in model(torch.randn(1, 3, 64, 64))).backward()
    attn = model.stages[0].blocks[0].attn
    for param in (attn.identity_norm.weight, attn.aggregators[2].norm.bias, attn.crpe.convs[1].weight,
                  model.stem[0].norm.weight, model.stages[1].patch_embed.norm.bias):
        assert param.grad is not None and param.grad.abs().sum() > 0


def test_depthwise_groups_merge_without_autograd_only():
    """The 3x3/5x5/7x7 depthwise convs of the aggregators and the CRPE run as one 7x7 conv without autograd,
    and each with its own kernel in training (a merged kernel's backward is slower); same outputs."""
    model = _randomise_norms(build_backbone(TINY)).eval()
    x = torch.randn(1, 3, 45, 61)
    conv2d = torch.nn.functional.conv2d

    def run(grad):
        with mock.patch.object(torch.nn.functional, 'conv2d', wraps=conv2d) as spy, torch.set_grad_enabled(grad):
            outs = model(x)
        depthwise = [call.args[1].shape for call in spy.call_args_list if call.args[1].shape[1] == 1]
        return outs, sorted({shape[-1] for shape in depthwise}), len(depthwise)

    merged, merged_kernels, merged_calls = run(False)
    separate, separate_kernels, separate_calls = run(True)
    assert merged_kernels == [3, 7] and separate_kernels == [3, 5, 7]  # 3x3: the patch embeddings and local branch
    # two groups of three convs per block (aggregators, CRPE) become one conv each
    assert separate_calls - merged_calls == 4 * sum(TINY_ARCH['depths'])
    for a, b in zip(merged, separate):
        torch.testing.assert_close(a, b.detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_runs_finite(dtype):
    """bf16 and fp16 autocast: finite outputs close to fp32, also for large activations (the
    softmax runs inside SDPA, which accumulates in float32)."""
    model = _randomise_norms(build_backbone(TINY)).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        with torch.autocast('cpu', dtype=dtype):
            low = model(x)
            large = model(100 * x)
    for a, b in zip(expected, low):
        assert b.dtype == dtype and torch.isfinite(b).all()
        assert (b.float() - a).abs().max() <= 0.05 * a.abs().max()
    assert all(torch.isfinite(t).all() for t in large)


def test_compile_fullgraph_at_sizes_off_the_stride_grid():
    """torch.compile(fullgraph=True) captures the whole forward (no graph break) at sizes that are not
    multiples of the strides, with eager's numbers (AOT autograd's eager backend keeps the test fast).
    dynamic=True, torch.export and inductor: test_compile_export.py, for every family."""
    model = build_backbone(TINY).eval()
    compiled = torch.compile(model, fullgraph=True, backend='aot_eager')
    with torch.no_grad():
        for size in ((64, 64), (45, 61)):
            x = torch.randn(1, 3, *size)
            for a, b in zip(model(x), compiled(x)):
                torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------ norm handling
def test_sync_bn_through_config():
    """``norm_cfg=dict(type='SyncBN')`` makes every conv-side norm a SyncBatchNorm (the official model
    hard-codes them); same state dict, same numbers on one process in eval mode."""
    bn = _randomise_norms(build_backbone(TINY)).eval()
    sync = build_backbone(dict(TINY, norm_cfg=dict(type='SyncBN'))).eval()
    sync.load_state_dict(bn.state_dict(), strict=True)
    norms = [m for m in sync.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(isinstance(m, nn.SyncBatchNorm) for m in norms)
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in bn.modules())
    x = torch.randn(1, 3, 45, 61)
    with torch.no_grad():
        for a, b in zip(bn(x), sync(x)):
            torch.testing.assert_close(a, b)


def test_norm_eps_and_types():
    model = GroupMixFormer(TINY_ARCH)
    block = model.stages[0].blocks[0]
    assert block.norm1.eps == block.norm2.eps == 1e-6
    assert isinstance(block.attn.local_branch.norm, nn.LayerNorm) and block.attn.local_branch.norm.eps == 1e-5
    assert isinstance(model.norm3, nn.BatchNorm2d)
    assert block.attn.qkv.bias is not None
    # The attention scale comes from the full width, as in the official model.
    assert block.attn.scale == (20 // 8)**-0.5 and block.attn.head_dim == 2


# ------------------------------------------------------------------------------------- arch handling
def test_arch_zoo_and_param_counts():
    assert GroupMixFormer.resolve_arch('miny') == GroupMixFormer.resolve_arch('M')
    expected = {  # dims, depths, mlp ratios, drop path, parameters of the official classifier
        'm': ((40, 80, 160, 160), (3, 3, 12, 4), (4, 4, 4, 4), 0.1, 5733120),
        't': ((80, 160, 200, 240), (4, 4, 12, 4), (4, 4, 4, 4), 0.1, 10949152),
        's': ((80, 160, 320, 320), (2, 4, 12, 4), (4, 4, 4, 4), 0.2, 22421320),
        'b': ((200, 240, 320, 480), (8, 8, 12, 8), (2, 2, 4, 4), 0.5, 45827272),
        'l': ((240, 320, 360, 480), (8, 10, 30, 10), (4, 4, 2, 2), 0.1, 71833648),
    }
    for name, (dims, depths, ratios, dpr, params) in expected.items():
        arch = GroupMixFormer.resolve_arch(name)
        assert (tuple(arch['embed_dims']), tuple(arch['depths']), tuple(arch['mlp_ratios'])) == (dims, depths, ratios)
        assert arch['drop_path_rate'] == dpr
        with torch.device('meta'):  # shapes only
            backbone = GroupMixFormer(name, out_indices=(3, ))
        head = dims[-1] * 1000 + 1000
        assert sum(p.numel() for p in backbone.parameters()) + head == params, name


@pytest.mark.parametrize('arch, word', [
    ({'embed_dims': [20, 40, 40, 80], 'depths': [1, 1, 1, 1]}, 'mlp_ratios'),
    (dict(TINY_ARCH, heads=8), 'heads'),
    (dict(TINY_ARCH, embed_dims=[20, 40, 40]), 'embed_dims'),
    (dict(TINY_ARCH, embed_dims=[20, 40, 42, 80]), 'embed_dims[2]=42'),
    (dict(TINY_ARCH, embed_dims=[20, 40, 45, 80]), 'embed_dims[2]=45'),
    (dict(TINY_ARCH, embed_dims=[25, 40, 40, 80]), 'even'),
    (dict(TINY_ARCH, num_heads=4), 'crpe_windows'),
    (dict(TINY_ARCH, num_heads=6), 'num_heads=6'),
    ('huge', 'huge'),
])
def test_custom_arch_errors_name_the_key(arch, word):
    with pytest.raises(ValueError, match=re.escape(word)):
        GroupMixFormer(arch=arch)


def test_drop_path_rates_rise_over_all_blocks():
    with torch.device('meta'):
        model = GroupMixFormer('m')
    rates = [getattr(b.drop_path, 'drop_prob', 0.) for s in model.stages for b in s.blocks]
    torch.testing.assert_close(torch.tensor(rates), torch.linspace(0, 0.1, 22), rtol=0, atol=1e-7)


def test_layer_depth():
    model = GroupMixFormer(TINY_ARCH)
    assert model.num_layers == 5 + 2
    assert model.get_layer_depth('backbone.stem.0.conv.weight', 'backbone.') == (0, 7)
    assert model.get_layer_depth('backbone.stages.0.patch_embed.norm.weight', 'backbone.')[0] == 1
    assert model.get_layer_depth('backbone.stages.2.blocks.1.attn.qkv.weight', 'backbone.')[0] == 4
    assert model.get_layer_depth('backbone.norm3.weight', 'backbone.')[0] == 5
    assert model.get_layer_depth('head.fc.weight', 'backbone.')[0] == 6
    for name, _ in model.named_parameters():
        assert 0 <= model.layer_depth_of(name) < model.num_layers - 1, name


def test_pretrained_dense_load_from_classifier(tmp_path):
    """A converted classifier loads into the 4-output backbone with prefix='backbone.'."""
    dense = check_dense_load_from_classifier(dict(TINY, out_indices=(3, )), TINY, 80, tmp_path)
    assert {'norm0.weight', 'norm1.weight', 'norm2.weight'} <= set(dense.state_dict())


# ----------------------------------------------------------------------------------- converter parity
def _official_checkpoint(reference, tmp_path, wrap=True):
    return official_checkpoint(reference, tmp_path, 'model' if wrap else None)


def _classifier_for(reference):
    arch = reference['arch']
    dims = arch['embed_dims'] if isinstance(arch, dict) else GroupMixFormer.resolve_arch(arch)['embed_dims']
    backbone = dict(type='backbones.GroupMixFormer', arch=arch, out_indices=(3, ))
    return build_classifier(backbone, dims[-1], reference['num_classes']).eval()


def _check_logits(reference, converted_path):
    return check_logits(_classifier_for(reference), reference, converted_path)


def test_converter_cli_parity_with_official_m(tmp_path):
    reference = load_reference('groupmixformer_m_reference')
    src, _ = _official_checkpoint(reference, tmp_path)
    dst = str(tmp_path / 'converted.pth')
    result = run_tool(CONVERTER, src, dst)
    assert 'wrote 1149 tensors' in result.stdout and 'arch=m' in result.stdout
    checkpoint = _check_logits(reference, dst)
    assert checkpoint['meta']['arch'] == 'm'


def test_converter_parity_with_official_tiny(tmp_path, capsys):
    reference = load_reference('groupmixformer_tiny_reference')
    src, _ = _official_checkpoint(reference, tmp_path, wrap=False)
    dst = str(tmp_path / 'converted.pth')
    code, out, _ = convert(capsys, src, dst)
    assert code == 0 and 'arch=custom' in out
    _check_logits(reference, dst)
    # A DDP-wrapped training checkpoint (module. prefix, optimizer state) converts the same way.
    state_dict = seeded_state_dict(reference['manifest'], reference['seed'])
    ddp = str(tmp_path / 'ddp.pth')
    torch.save({'model': {'module.' + k: v for k, v in state_dict.items()}, 'epoch': 299}, ddp)
    assert convert(capsys, ddp, str(tmp_path / 'from_ddp.pth'))[0] == 0
    _check_logits(reference, str(tmp_path / 'from_ddp.pth'))


def test_converter_refuses_pickled_code(tmp_path, capsys):
    check_refuses_pickled_code(convert, capsys, tmp_path, 'model')


def test_converter_errors(tmp_path, capsys):
    reference = load_reference('groupmixformer_tiny_reference')
    src, state_dict = _official_checkpoint(reference, tmp_path)
    dst = str(tmp_path / 'out.pth')
    # An unknown key is named; a missing key is named by the strict load.
    check_unknown_and_missing_keys(
        convert, capsys, tmp_path, state_dict, dst,
        ('groupmixformer_backbone.0.gma_stage.0.att.extra.weight', 'gma_stage.0.att.extra.weight'),
        ('groupmixformer_backbone.2.gma_stage.1.att.aggregator.agg2.conv1.weight',
         'stages.2.blocks.1.attn.aggregators.1.conv.depthwise.weight'), _classifier_for(reference))
    # Not a GroupMixFormer checkpoint at all; --arch must match the shapes; no overwrite without --force.
    check_cli_errors(convert, capsys, tmp_path, src, dst,
                     ['not a GroupMixFormer checkpoint', 'official (conv_stem.proj1.weight)'], 'm')


# ------------------------------------------------------------------------------------------ benchmark
def test_benchmark_tool(capsys):
    """The benchmark's GroupMixFormer pair: refuses official code from inside the repo and a --cp-stages value
    the model lacks; one tiny run times ours against a reference interleaved and prints images/s, spread and
    peak memory per configuration."""
    bench = load_tool(BENCHMARK, 'benchmark')
    with pytest.raises(SystemExit, match='outside this repository'):
        bench.load_official(ROOT)
    assert bench.main(['--families', 'groupmixformer', '--tasks', 'infer', '--modes', 'eager', '--with-cp']) == 0
    assert 'skipped: pass --official-repo' in capsys.readouterr().out
    with pytest.raises(SystemExit):  # refused before any model is timed
        bench.main(['--families', 'groupmixformer', '--with-cp', '--cp-stages', 'all', '5'])
    assert 'cp_stages=5 is not valid' in capsys.readouterr().err
    ours = bench.Logits(bench.build_ours('groupmixformer', 'm'))
    reference = copy.deepcopy(ours)
    args = bench.argparse.Namespace(warmup=0, repeats=2, iters=1, device='cpu')
    x, labels = torch.randn(2, 3, 64, 64), torch.tensor([1, 2])
    for task in ('infer', 'train'):
        steps = {name: bench.Step(m, task, torch.bfloat16, False, 'cpu')
                 for name, m in (('ours', ours), ('ref', reference))}
        result = bench.measure(steps, x, labels, args)
        for r in result.values():
            assert r['img_s'] > 0 and len(r['rounds']) == 2 and r['spread_pct'] >= 0
            assert r['peak_mib'] is None or r['peak_mib'] >= 0
    before = ours.model.head.fc.weight.clone()
    bench.Step(ours, 'train', torch.float32, False, 'cpu')(x, labels)
    assert not torch.equal(before, ours.model.head.fc.weight), 'a training step updates the weights'


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='measured from /proc (Linux)')
def test_benchmark_tensor_memory_of_checkpointing():
    """The benchmark's tensor memory, measured in a fresh process: checkpointing every stage keeps less
    than checkpointing the stem and stage 0, which keeps less than no checkpointing."""
    bench = load_tool(BENCHMARK, 'benchmark')
    args = bench.argparse.Namespace(device='cpu', batch_size=4, size=96, gmf_arch='m')
    plain = bench.tensor_peak_mib(args, 'groupmixformer', 'fp32', False, None)
    first_stage = bench.tensor_peak_mib(args, 'groupmixformer', 'fp32', True, 1)
    every_stage = bench.tensor_peak_mib(args, 'groupmixformer', 'fp32', True, None)
    assert 0 < every_stage < first_stage < plain, (every_stage, first_stage, plain)


def test_benchmark_rearrange_stub():
    """The einops stand-in the benchmark uses to run the official file reshapes as einops would."""
    bench = load_tool(BENCHMARK, 'benchmark')
    x = torch.randn(2, 3, 20, 4)
    y = bench._rearrange(x, 'B h (H W) Ch -> B (h Ch) H W', H=4, W=5)
    torch.testing.assert_close(y, x.view(2, 3, 4, 5, 4).permute(0, 1, 4, 2, 3).reshape(2, 12, 4, 5))
    torch.testing.assert_close(bench._rearrange(y, 'B (h Ch) H W -> B h (H W) Ch', h=3), x)
