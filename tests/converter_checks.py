"""Checks the families' converter tests share: a converted classifier's logits against its parity reference,
the refusal of pickled code, and the command line's one-line errors (not the family's checkpoint, an --arch
that does not match, no overwrite without --force)."""
import os
import re

import pytest
import torch
from contract import CodePayload, build_backbone, build_classifier, decode_floats, seeded_input, seeded_state_dict


def check_logits(model, reference, converted_path):
    """Load ``converted_path`` strictly into ``model`` and compare its logits with the reference's."""
    checkpoint = torch.load(converted_path, weights_only=True)
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    with torch.no_grad():
        logits = model(seeded_input(reference['input_shape'], reference['input_seed']), mode='tensor')
    expected = decode_floats(reference['logits'], reference['logits_shape'])
    scale = expected.abs().max().item()
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-5 * max(scale, 1.))
    return checkpoint


def check_refuses_pickled_code(convert, capsys, tmp_path, state_dict_key):
    src = str(tmp_path / 'evil.pth')
    marker = tmp_path / 'code-ran'
    torch.save({state_dict_key: {'x': torch.zeros(1)}, 'payload': CodePayload(marker)}, src)
    code, _, err = convert(capsys, src, str(tmp_path / 'out.pth'))
    assert code == 2 and len(err.strip().splitlines()) == 1 and 'refusing evil.pth' in err
    assert not marker.exists() and not (tmp_path / 'out.pth').exists()


def check_cli_errors(convert, capsys, tmp_path, src, dst, not_this_family, wrong_arch):
    """``not_this_family``: what the error for a foreign checkpoint says; ``wrong_arch``: an --arch whose
    shapes ``src`` does not have."""
    torch.save({'conv.weight': torch.zeros(1)}, str(tmp_path / 'other.pth'))
    code, _, err = convert(capsys, str(tmp_path / 'other.pth'), dst)
    assert code == 2 and all(words in err for words in not_this_family)
    code, _, err = convert(capsys, src, dst, '--arch', wrong_arch)
    assert code == 2 and f'--arch {wrong_arch}' in err
    assert convert(capsys, src, dst)[0] == 0
    code, _, err = convert(capsys, src, dst)
    assert code == 2 and '--force' in err
    assert convert(capsys, src, dst, '--force')[0] == 0


def check_unknown_and_missing_keys(convert, capsys, tmp_path, state_dict, dst, extra, missing, model):
    """An ``extra`` key is refused, named; a ``missing`` one converts (converting is shape-agnostic) and the
    strict load into ``model`` names it, as ``missing[1]`` (vitzoo's name)."""
    torch.save(dict(state_dict, **{extra[0]: torch.zeros(1)}), str(tmp_path / 'bad.pth'))
    code, _, err = convert(capsys, str(tmp_path / 'bad.pth'), dst)
    assert code == 2 and extra[1] in err
    torch.save({k: v for k, v in state_dict.items() if k != missing[0]}, str(tmp_path / 'cut.pth'))
    assert convert(capsys, str(tmp_path / 'cut.pth'), dst)[0] == 0
    with pytest.raises(RuntimeError, match=re.escape(missing[1])):
        model.load_state_dict(torch.load(dst, weights_only=True)['state_dict'], strict=True)
    os.remove(dst)


def official_checkpoint(reference, tmp_path, state_dict_key=None):
    """The reference's seeded weights in the official layout, saved under ``state_dict_key`` (None: bare)."""
    state_dict = seeded_state_dict(reference['manifest'], reference['seed'])
    path = str(tmp_path / 'official.pth')
    torch.save({state_dict_key: state_dict} if state_dict_key else state_dict, path)
    return path, state_dict


def check_dense_load_from_classifier(classifier_backbone, dense_backbone, in_channels, tmp_path):
    """A converted classifier (``classifier_backbone`` + a linear head) loads into the 4-output
    ``dense_backbone`` with prefix='backbone.'; returns the loaded backbone."""
    cls = build_classifier(classifier_backbone, in_channels, 10)
    path = str(tmp_path / 'cls.pth')
    torch.save({'state_dict': cls.state_dict()}, path)
    dense = build_backbone(dict(dense_backbone, init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.')))
    dense.init_weights()
    for key, value in cls.backbone.state_dict().items():
        assert torch.equal(dense.state_dict()[key], value), key
    return dense
