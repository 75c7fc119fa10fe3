"""Make ``import torchvision`` work when its compiled part cannot load (see :mod:`vitzoo_torchvision_fix`).

The virtual environment ``tools/setup_env.sh`` builds applies that fix at interpreter start-up, so any
import order works there. Importing ``backbones`` installs the same import hook, for environments built
another way; it changes nothing where torchvision's own library loads.
"""
from vitzoo_torchvision_fix import install_import_hook, ops_patched

__all__ = ['ops_patched']

install_import_hook()
