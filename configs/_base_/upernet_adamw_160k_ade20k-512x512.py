# UPerNet (+ auxiliary FCN head on stage 3) on ADE20K, 512x512 crops, 160k iterations: mmseg's Swin
# recipe (AdamW 6e-5, wd 0.01, 1500 linear warm-up iterations, then poly; no decay on norms and position
# tables). The ADE20K base carries the multi-scale (0.5-1.75) + flip test-time augmentation that
# `tools/test.py --tta` uses. Family configs replace the backbone (`_delete_=True`) and set the heads'
# in_channels. SyncBN in the heads becomes BN automatically on machines without CUDA.
_base_ = [
    'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py',
    './no-decay-keys.py',
]
custom_imports = dict(imports=['backbones', 'mmseg_ext'], allow_failed_imports=False)
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={{_base_.no_decay_custom_keys}}))
