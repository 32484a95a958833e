"""Squeeze-and-Excitation networks as an OpenMMLab plugin suite."""
from . import datasets, engine, models  # noqa: F401  (registers the se_plugins scope)
from .utils.external_bases import register_external_bases
from .version import __version__

register_external_bases()  # `_base_ = 'se_plugins::...'` in any config, and faster `mmdet::`/`mmpretrain::` bases

__all__ = ['__version__']
