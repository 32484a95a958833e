"""The ``se_plugins`` registry scope.

mmpretrain already registers its own ``SEResNet``/``SEResNeXt``, so ours live in a scope of their
own, children of mmengine's root registries: from mmdet or mmpretrain configs they are built as
``dict(type='se_plugins.SEResNet', ...)``.
"""
import importlib
from typing import Dict, Optional

from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import Registry

from se_plugins.building import build_in_own_scope
from se_plugins.utils import InputError


class OnDemandRegistry(Registry):
    """mmengine's ``Registry``, with entries whose module imports a package not every user has.

    ``se_plugins.CocoDataset`` needs mmdet; classification users need not install it, and se_plugins
    does not import it with the package. Its module is imported when a config first asks for it.

    Args:
        on_demand: Entry name -> the module that registers it.
    """

    def __init__(self, *args, on_demand: Optional[Dict[str, str]] = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._on_demand = dict(on_demand or {})

    def get(self, key: str):
        scope, name = self.split_scope_key(key)
        if name in self._on_demand and name not in self._module_dict and scope in (None, self.scope):
            try:
                importlib.import_module(self._on_demand[name])
            except ModuleNotFoundError as error:
                raise InputError(f'{self.scope}.{name} needs {error.name}, which is not installed '
                                 '(pip install onedl-mmdetection, or mmdet)') from error
        return super().get(key)


MODELS = Registry('model', parent=MMENGINE_MODELS, scope='se_plugins', locations=['se_plugins.models'],
                  build_func=build_in_own_scope)
DATASETS = OnDemandRegistry('dataset', parent=MMENGINE_DATASETS, scope='se_plugins', locations=['se_plugins.datasets'],
                            on_demand={'CocoDataset': 'se_plugins.datasets.coco'})
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='se_plugins', locations=['se_plugins.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope='se_plugins', locations=['se_plugins.engine'])
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope='se_plugins',
                          locations=['se_plugins.engine'])
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, scope='se_plugins', locations=['se_plugins.engine'])
