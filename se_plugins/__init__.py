"""Squeeze-and-Excitation networks as an OpenMMLab plugin suite."""
import gc

# What this import brings in (torch, mmengine, mmpretrain, mmdet: hundreds of thousands of objects) lives as long
# as the process; the cyclic garbage collector, running as they are made, would traverse them again and again:
# a fifth of the import's time. It is paused during the import and resumed as it was.
_collecting = gc.isenabled()
gc.disable()
try:
    from . import apis, datasets, engine, models  # noqa: F401,E402  (registers the se_plugins scope)
    from .apis import get_model, list_models  # noqa: E402
    from .utils.external_bases import register_external_bases  # noqa: E402
    from .version import __version__  # noqa: E402
    from .weights import register_safe_local_loading, register_weight_sources  # noqa: E402

    register_external_bases()  # `_base_ = 'se_plugins::...'` in any config, faster `mmdet::`/`mmpretrain::` bases
    register_safe_local_loading()  # mmengine reads local checkpoints without running code they hold
    register_weight_sources()  # timm://, pretrainedmodels:// checkpoints: public SE weights, converted
    apis.register_with_mmpretrain()  # our model names in mmpretrain.list_models / get_model / its inferencers
finally:
    if _collecting:
        gc.enable()

__all__ = ['__version__', 'get_model', 'list_models']
