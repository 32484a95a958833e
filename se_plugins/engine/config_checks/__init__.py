"""Checks of a config before anything is built or written: arguments its parts do not take, paths it names,
top-level keys nothing reads, numbers of classes; and pointing every dataloader at the user's data.

The modules: :mod:`.files` (the config file and its bases), :mod:`.paths`, :mod:`.signatures` (what a class takes),
:mod:`.walk` (every part built by name), :mod:`.special_parts` (plugins, dataloaders, mmcv's ops),
:mod:`.classes`.
"""
from typing import Sequence

from mmengine.config import Config
from torch.utils.data import DataLoader

from se_plugins.utils import InputError

from .classes import check_class_counts
from .files import read_config
from .paths import CONFIG_KEYS, SPLITS, check_paths, point_at_data, unread_top_level_keys
from .signatures import _argument_problem, _check_built, _dry_build_problem, _parameters, accepted_arguments
from .special_parts import (_loader_problem, _mmcv_op_problem, _mmcv_ops_configs, _model_build_problem,
                            _plugin_build_problem, _plugin_problem)
from .walk import NOT_BUILT_BY_NAME, built_parts


def check_arguments(cfg: Config, splits: Sequence[str]) -> None:
    """Check, before anything is built, the arguments of every part a tool builds from the config by name
    (:func:`built_parts`, and the dataloaders): an argument its class does not take (with the closest name
    it does), a required one missing, a number out of range or a string where a number belongs; the mmcv ops a
    detector names (``nms``, ``roi_layer``: :func:`_mmcv_op_problem`); and the backbone's plugins (their
    positions, stages and arguments, and a dry build of the backbone). One :class:`InputError` names the
    first problem with its config key:
    ``model.backbone: SEResNet has no argument 'se_ratoi'; did you mean 'se_ratio'?``,
    ``train_dataloader.batch_size must be at least 1, got 0``.

    Args:
        cfg: The config.
        splits: The splits the tool uses.
    """
    scope = cfg.get('default_scope') or 'mmengine'
    backbone = (cfg.get('model') or {}).get('backbone')
    plugins = isinstance(backbone, dict) and backbone.get('plugins')
    if plugins:
        problem = _plugin_problem(backbone, scope)  # before the backbone's own arguments: 'plugins' is one
        if problem:
            raise InputError(problem)
    loader_parameters = _parameters(DataLoader) or {}
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if isinstance(loader, dict):
            problem = (_argument_problem(f'{split}_dataloader', DataLoader, loader, loader_parameters)
                       or _loader_problem(f'{split}_dataloader', loader))
            if problem:
                raise InputError(problem)
    for key, config, registry, default, given in built_parts(cfg, splits):
        problem = _check_built(key, config, registry, scope, default, given) or _dry_build_problem(
            key, config, registry, scope)
        if problem:
            raise InputError(problem)
    for key, which, config in _mmcv_ops_configs('model', cfg.get('model')):
        problem = _mmcv_op_problem(key, which, config)
        if problem:
            raise InputError(problem)
    if plugins:
        problem = _plugin_build_problem(backbone, scope)  # its arguments are known to be right by now
        if problem:
            raise InputError(problem)
    if isinstance(cfg.get('model'), dict):  # what only building tells, as the run will build it
        model = dict(cfg.model)
        model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
        problem = _model_build_problem(model, scope)
        if problem:
            raise InputError(problem)


def check_config(cfg: Config, splits: Sequence[str]) -> None:
    """Every check the tools run on a config before anything is built or written: its arguments
    (:func:`check_arguments`), the paths it names (:func:`check_paths`) and its numbers of classes
    (:func:`check_class_counts`). The first problem ends in one :class:`InputError` naming its key.

    Args:
        cfg: The config, with the command line applied.
        splits: The splits the tool uses: ``('train', 'val')`` to train, ``('test',)`` to test.
    """
    check_arguments(cfg, splits)
    check_paths(cfg, splits)
    check_class_counts(cfg, splits)


__all__ = ['CONFIG_KEYS', 'NOT_BUILT_BY_NAME', 'SPLITS', 'accepted_arguments', 'built_parts', 'check_arguments',
           'check_class_counts', 'check_config', 'check_paths', 'point_at_data', 'read_config',
           'unread_top_level_keys']
