"""Squeeze-and-Excitation networks as an OpenMMLab plugin suite."""
from mmengine.config.utils import MODULE2PACKAGE

from . import datasets, engine, models  # noqa: F401  (registers the se_plugins scope)
from .version import __version__

# mmengine resolves `_base_ = 'pkg::folder/file.py'` only for packages in this table; with it,
# `se_plugins::faster_rcnn/...` reads se_plugins/.mim/configs/ (a copy of configs/ in a wheel, a link
# to it in a clone). The value is the module, not the distribution (se-plugins-openmmlab): mmengine
# then finds the folder by import, as it does for the onedl fork's mmdet and mmpretrain.
MODULE2PACKAGE.setdefault('se_plugins', 'se_plugins')

__all__ = ['__version__']
