"""Registry of the ``mmdet_ext`` scope: a child of mmengine's root, so detection configs find its
modules as ``type='mmdet_ext.<Name>'`` whatever their default scope."""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='mmdet_ext', locations=['mmdet_ext'])
