# Parameters the detection and segmentation recipes train without weight decay (norms and position
# tables), shared as one `paramwise_cfg.custom_keys` value: recipes list this file in `_base_` and set
# `custom_keys={{_base_.no_decay_custom_keys}}`.
no_decay_custom_keys = {
    'relative_position_bias_table': dict(decay_mult=0.),
    'pos_embed': dict(decay_mult=0.),
    'cls_token': dict(decay_mult=0.),
    'norm': dict(decay_mult=0.),
}
