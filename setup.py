"""vitzoo: GC ViT, DaViT, GroupMixFormer and ViT backbones for mmpretrain, mmdet and mmsegmentation."""
from setuptools import setup

setup(
    name='vitzoo',
    version='0.1.0',
    description='Vision-transformer backbones with official weights for OpenMMLab classification, '
    'detection and segmentation',
    packages=['backbones', 'mmdet_ext', 'mmseg_ext'],
    # Imported at interpreter start-up by the .pth file tools/setup_env.sh installs: keep it tiny.
    py_modules=['vitzoo_torchvision_fix'],
    python_requires='>=3.9',
    # Versions are pinned by tools/setup_env.sh; mmcv must be built with its ops, which pip cannot express.
    install_requires=['torch', 'mmcv', 'mmengine', 'mmdet', 'mmsegmentation', 'mmpretrain', 'timm',
                      'safetensors'],
)
