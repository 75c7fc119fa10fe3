"""The backbone contract of :mod:`contract`, run for every family: output shapes at any input size (and
``feature_info`` giving their channels and strides), frozen stages, norm_eval, checkpointing, gradients,
state-dict round trip, fused vs plain attention and where each runs.

Each family's small configs are defined in its own test file (which keeps the family's specific cases);
the tables below say which of them each check runs on and with which sizes, under the ids
``<family>[-<variant>]``.
"""
import pytest
from contract import (check_all_params_get_grad, check_attention_kernel_choice, check_cp_stages, check_frozen_stages,
                      check_fused_matches_plain, check_norm_eval, check_output_shapes, check_state_dict_round_trip,
                      check_with_cp_same_output)
from test_davit import T_CFG as DAVIT_T
from test_davit import TINY as DAVIT
from test_gcvit import TINY as GCVIT
from test_groupmixformer import M_CFG as GROUPMIXFORMER_M
from test_groupmixformer import TINY as GROUPMIXFORMER
from test_vit import ODD_SIZES as VIT_ODD_SIZES
from test_vit import TINY as VIT
from test_vit import TINY_HYBRID as VIT_HYBRID

STRIDES = (4, 8, 16, 32)
ANY_SIZE = [(32, 32), (33, 47), (97, 131), (333, 517), (64, 40)]

# id: [(cfg, sizes, strides, channels), ...] - every entry of a case is checked in that one test.
OUTPUT_SHAPES = {
    **{f'gcvit-{h}x{w}': [(GCVIT, [(h, w)], STRIDES, (16, 32, 64, 128))]
       for h, w in [(97, 131), (32, 32), (224, 224), (333, 517)]},
    'gcvit-dense-windows': [(dict(GCVIT, window_size=24, query_downsample=(True, True, True, False),
                                  out_indices=(1, 2, 3)), [(97, 131), (200, 64)], (8, 16, 32), (32, 64, 128))],
    'davit': [(DAVIT, ANY_SIZE, STRIDES, DAVIT['arch']['embed_dims'])],
    'davit-t': [(DAVIT_T, [(97, 131), (32, 45)], STRIDES, (96, 192, 384, 768)),
                (dict(DAVIT, out_indices=(1, 3)), [(64, 64)], (8, 32), (32, 64))],
    'groupmixformer': [(GROUPMIXFORMER, ANY_SIZE, STRIDES, GROUPMIXFORMER['arch']['embed_dims'])],
    'groupmixformer-m': [(GROUPMIXFORMER_M, [(333, 517), (97, 131)], STRIDES, (40, 80, 160, 160)),
                         (dict(GROUPMIXFORMER, out_indices=(1, 3)), [(64, 64)], (8, 32), (40, 80))],
    'vit': [(VIT, VIT_ODD_SIZES, (16, 16, 16), (64, 64, 64)),
            (VIT_HYBRID, [(32, 32), (97, 131), (224, 224)], (16, 16), (64, 64)),
            (dict(VIT, arch=dict(VIT['arch'], patch_size=32), out_indices=(-1, )), VIT_ODD_SIZES, (32, ), (64, ))],
}
FROZEN_STAGES = {
    **{f'{name}-{frozen}': (cfg, frozen) for name, cfg in
       [('gcvit', GCVIT), ('davit', DAVIT), ('groupmixformer', GROUPMIXFORMER)] for frozen in (0, 2, 4)},
    # ViT's output norms of frozen stages are frozen too: out_indices stop at the frozen stage so the shared
    # check's bookkeeping holds (test_vit.py checks the position tables of these cases).
    'vit-0': (VIT, 0),
    'vit-2': (dict(VIT, out_indices=(2, )), 2),
    'vit-hybrid-1': (dict(VIT_HYBRID, out_indices=(1, )), 1),
}
NORM_EVAL = {'davit': DAVIT, 'groupmixformer': GROUPMIXFORMER, 'vit-hybrid': VIT_HYBRID}
# id: (cfg, input size); None keeps the check's default size.
GRADIENTS = {'gcvit': (GCVIT, None), 'davit': (DAVIT, (45, 61)), 'groupmixformer': (GROUPMIXFORMER, (45, 61)),
             'vit': (VIT, (45, 61)), 'vit-hybrid': (VIT_HYBRID, (45, 61))}
STATE_DICT = {'gcvit': GCVIT, 'davit': DAVIT, 'groupmixformer': GROUPMIXFORMER, 'vit': VIT,
              'vit-hybrid': VIT_HYBRID}
FUSED = {'gcvit': (GCVIT, None), 'davit': (DAVIT, (61, 75)), 'davit-t': (DAVIT_T, (64, 96)),
         'groupmixformer': (GROUPMIXFORMER, (61, 75)), 'vit': (VIT, (97, 131))}


def _size(size):
    return {} if size is None else dict(size=size)


@pytest.mark.parametrize('entries', OUTPUT_SHAPES.values(), ids=OUTPUT_SHAPES.keys())
def test_output_shapes(entries):
    for cfg, sizes, strides, channels in entries:
        check_output_shapes(cfg, sizes, strides, channels)


@pytest.mark.parametrize('cfg, frozen', FROZEN_STAGES.values(), ids=FROZEN_STAGES.keys())
def test_frozen_stages(cfg, frozen):
    check_frozen_stages(cfg, frozen)


@pytest.mark.parametrize('cfg', NORM_EVAL.values(), ids=NORM_EVAL.keys())
def test_norm_eval(cfg):
    check_norm_eval(cfg)


@pytest.mark.parametrize('cfg, size', GRADIENTS.values(), ids=GRADIENTS.keys())
def test_with_cp_same_output(cfg, size):
    check_with_cp_same_output(cfg, **_size(size))


@pytest.mark.parametrize('cfg, size', GRADIENTS.values(), ids=GRADIENTS.keys())
def test_cp_stages(cfg, size):
    check_cp_stages(cfg, stages=1, **_size(size))


@pytest.mark.parametrize('cfg, size', GRADIENTS.values(), ids=GRADIENTS.keys())
def test_all_params_get_grad(cfg, size):
    check_all_params_get_grad(cfg, **_size(size))


@pytest.mark.parametrize('cfg', STATE_DICT.values(), ids=STATE_DICT.keys())
def test_state_dict_round_trip(cfg, tmp_path):
    check_state_dict_round_trip(cfg, tmp_path)


@pytest.mark.parametrize('cfg, size', FUSED.values(), ids=FUSED.keys())
def test_fused_matches_plain(cfg, size):
    check_fused_matches_plain(cfg, **_size(size))


@pytest.mark.parametrize('cfg', STATE_DICT.values(), ids=STATE_DICT.keys())
def test_attention_kernel_choice(cfg):
    check_attention_kernel_choice(cfg)
