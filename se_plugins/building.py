"""Building from a config, in the scope of the library that owns its types.

mmengine resolves a ``type`` without a scope prefix in the current default scope, which is whatever the
last Runner or build left behind. Everything in se_plugins that builds a model or a dataset outside a Runner
(tools, analysis, tests) builds it here: a classification config's types in mmpretrain's scope, a detection
config's in mmdet's, and our own registries' entries in ours (:func:`build_in_own_scope`, their build
function).
"""
from contextlib import contextmanager
from typing import Iterator, Optional

import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DATASETS, MODELS, DefaultScope, Registry, build_model_from_cfg


def task_scope(cfg: Config) -> str:
    """``'mmdet'`` for a detection config, else ``'mmpretrain'``: the library whose registries build it."""
    return 'mmdet' if cfg.get('default_scope') == 'mmdet' else 'mmpretrain'


def in_scope(scope: Optional[str]):
    """A context in which ``scope`` is the default scope (mmengine's ``overwrite_default_scope``)."""
    return DefaultScope.overwrite_default_scope(scope)


def build_in_own_scope(cfg: dict, registry: Registry, *args, **kwargs):
    """Build from ``registry`` in its own scope, whatever default scope the caller has set: the build
    function of se_plugins' registries.

    Without it, ``se_plugins.registry.MODELS.build(dict(type='SEResNet'))`` inside an mmpretrain run would
    build mmpretrain's ``SEResNet``.
    """
    with in_scope(registry.scope):
        return build_model_from_cfg(cfg, registry, *args, **kwargs)


@contextmanager
def without_initialisation() -> Iterator[None]:
    """A context in which torch's initialisers (``torch.nn.init``'s ``kaiming_uniform_``, ``ones_``, ...) leave
    their tensor as it is: a model built in it has whatever its memory held, and costs no random draws.

    For a model whose values nobody reads (its parameters and FLOPs counted, its state dict's keys and shapes
    checked): the random initialisation is most of the time of building a large network (SENet-154: 1.3 s of
    1.5). Initialisers imported by name elsewhere (``from torch.nn.init import ...``) still run.
    """
    names = [name for name in vars(nn.init) if name.endswith('_') and not name.startswith('_')]
    saved = {name: getattr(nn.init, name) for name in names}

    def leave(tensor, *args, **kwargs):
        return tensor
    try:
        for name in names:
            setattr(nn.init, name, leave)
        yield
    finally:
        for name, initialiser in saved.items():
            setattr(nn.init, name, initialiser)


def build_model(cfg: Config) -> nn.Module:
    """A config's model with random weights, built by its task's library (:func:`task_scope`)."""
    scope = task_scope(cfg)
    with in_scope(scope):
        return MODELS.build(dict(cfg.model, _scope_=scope))


def build_dataset(cfg: Config, split: str = 'test'):
    """The dataset of a config's ``{split}_dataloader``, built by its task's library."""
    scope = task_scope(cfg)
    with in_scope(scope):
        return DATASETS.build(dict(cfg[f'{split}_dataloader'].dataset, _scope_=scope))


def dataset_class(dataset: dict, scope: str) -> Optional[type]:
    """The class a dataset config builds in ``scope`` (or its own ``_scope_``), if its type is registered."""
    kind = dataset.get('type')
    if not isinstance(kind, str):
        return None
    with DATASETS.switch_scope_and_registry(dataset.get('_scope_', scope)) as registry:
        cls = registry.get(kind)
    return cls if isinstance(cls, type) else None


def build_classifier(backbone: dict, num_classes: int = 1000, in_channels: Optional[int] = 2048) -> nn.Module:
    """An mmpretrain classifier on ``backbone``: global average pooling and one linear layer, as
    in the paper's networks.

    Args:
        backbone: The backbone config.
        num_classes: Classes of the linear layer.
        in_channels: Channels of the backbone's last stage; ``None``: the backbone classifies itself
            (VGG with ``num_classes``), and the classifier adds no layer.
    """
    loss = dict(type='CrossEntropyLoss')
    if in_channels is None:
        neck, head = None, dict(type='ClsHead', loss=loss)
    else:
        neck = dict(type='GlobalAveragePooling')
        head = dict(type='LinearClsHead', num_classes=num_classes, in_channels=in_channels, loss=loss)
    with in_scope('mmpretrain'):
        return MODELS.build(dict(type='ImageClassifier', backbone=backbone, neck=neck, head=head,
                                 _scope_='mmpretrain'))
