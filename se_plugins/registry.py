"""The ``se_plugins`` registry scope.

mmpretrain already registers its own ``SEResNet``/``SEResNeXt``, so ours live in a scope of their
own, children of mmengine's root registries: from mmdet or mmpretrain configs they are built as
``dict(type='se_plugins.SEResNet', ...)``.
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import DefaultScope, Registry, build_model_from_cfg


def build_in_own_scope(cfg, registry: Registry, *args, **kwargs):
    """Build from ``registry`` in its own scope, whatever default scope the caller has set.

    mmengine resolves an unscoped ``type`` in the current default scope, so
    ``se_plugins.registry.MODELS.build(dict(type='SEResNet'))`` inside an mmpretrain run would
    otherwise build mmpretrain's ``SEResNet``.
    """
    with DefaultScope.overwrite_default_scope(registry.scope):
        return build_model_from_cfg(cfg, registry, *args, **kwargs)


MODELS = Registry('model', parent=MMENGINE_MODELS, scope='se_plugins', locations=['se_plugins.models'],
                  build_func=build_in_own_scope)
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, scope='se_plugins', locations=['se_plugins.datasets'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='se_plugins', locations=['se_plugins.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope='se_plugins', locations=['se_plugins.engine'])
