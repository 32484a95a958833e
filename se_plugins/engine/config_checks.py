"""Checks of a config before anything is built or written: arguments its parts do not take, paths it
names, top-level keys nothing reads; and pointing every dataloader at the user's data."""
import difflib
import inspect
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Set, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import DATA_SAMPLERS, DATASETS, HOOKS, LOOPS, MODELS, OPTIM_WRAPPERS, OPTIMIZERS, Registry
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from se_plugins.models.layers import PLUGIN_POSITIONS
from se_plugins.utils import InputError, MissingInputError, StopRun, input_error_message

from .checkpoint import require_checkpoint

SPLITS = ('train', 'val', 'test')
# What mmengine's Runner reads from a config, and what configs use for themselves.
RUNNER_KEYS = frozenset(inspect.signature(Runner.__init__).parameters) - {'self'}
CONFIG_KEYS = RUNNER_KEYS | {'_base_', 'custom_imports', 'default_scope', 'launcher', 'work_dir', 'resume',
                             'load_from', 'randomness', 'env_cfg', 'log_level', 'log_processor', 'visualizer',
                             'vis_backends', 'model_wrapper_cfg', 'find_unused_parameters', 'auto_scale_lr',
                             'experiment_name', 'cfg', 'backend_args', 'data_preprocessor'}


def task_scope(cfg: Config) -> str:
    """``'mmdet'`` for a detection config, else ``'mmpretrain'``: the library whose registries build it."""
    return 'mmdet' if cfg.get('default_scope') == 'mmdet' else 'mmpretrain'


def build_model(cfg: Config) -> torch.nn.Module:
    """A config's model with random weights, built by its task's library (:func:`task_scope`)."""
    from mmengine.registry import DefaultScope

    scope = task_scope(cfg)
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(dict(cfg.model, _scope_=scope))


def _datasets(cfg: Config, splits: Sequence[str] = SPLITS) -> Iterator[Tuple[str, dict]]:
    """Each split's dataset config with its key, through dataset wrappers (``dataset=dict(dataset=...)``)."""
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader or not loader.get('dataset'):
            continue
        key, dataset = f'{split}_dataloader.dataset', loader['dataset']
        while 'dataset' in dataset and isinstance(dataset['dataset'], dict):
            key, dataset = f'{key}.dataset', dataset['dataset']
        yield key, dataset


def _evaluators(cfg: Config, split: str) -> Iterator[dict]:
    """The evaluator configs of ``split`` (``val_evaluator`` is a dict or a list of them)."""
    evaluators = cfg.get(f'{split}_evaluator')
    yield from (e for e in (evaluators if isinstance(evaluators, list) else [evaluators]) if isinstance(e, dict))


def point_at_data(cfg: Config, data_root: str, ann_file: Optional[str] = None) -> None:
    """Set the data root of every dataloader's dataset, and the annotation file the COCO evaluators read.

    A config's ``data_root = ...`` variable has been expanded into every dataset when the config was
    read, so a child config's own ``data_root`` variable does not reach its base's datasets; this sets
    them all.

    Args:
        cfg: The config, changed in place.
        data_root: The folder of the dataset, in the layout the config expects.
        ann_file: The evaluators' annotation file (default: the val/test dataset's ``ann_file``
            under ``data_root``).
    """
    if not osp.isdir(data_root):
        raise MissingInputError(f'--data-root {data_root} is not a directory')
    data_root = osp.join(data_root, '')  # mmdet's configs join it with a '+'
    datasets = dict(_datasets(cfg))
    for dataset in datasets.values():
        dataset['data_root'] = data_root
    for split in ('val', 'test'):
        for evaluator in _evaluators(cfg, split):
            if 'ann_file' in evaluator:
                dataset = datasets.get(f'{split}_dataloader.dataset', {})
                evaluator['ann_file'] = ann_file or osp.join(data_root, dataset.get('ann_file', ''))


def check_paths(cfg: Config, splits: Sequence[str]) -> None:
    """Check, before anything is built or written, the paths a config names for ``splits``: each
    dataset's data root and annotation file, the evaluators' annotation files, ``load_from`` (when
    training; ``tools/test.py`` checks its checkpoint argument itself) and the backbone's pretrained
    checkpoint. One :class:`InputError` names the first missing one and its key.

    Args:
        cfg: The config.
        splits: The splits the tool uses: ``('train', 'val')`` to train, ``('test',)`` to test.
    """
    for key, dataset in _datasets(cfg, splits):
        root = dataset.get('data_root') or ''
        if root and '://' not in root and not osp.isdir(root):
            raise MissingInputError(f'{key}.data_root {root} is not a directory (set it with --data-root)')
        ann_file = dataset.get('ann_file')
        if ann_file and '://' not in ann_file:
            path = osp.join(root, ann_file)
            if not osp.isfile(path):
                raise MissingInputError(f'{key}.ann_file {path} does not exist')
    for split in set(splits) & {'val', 'test'}:
        for evaluator in _evaluators(cfg, split):
            path = evaluator.get('ann_file')
            if path and '://' not in path and not osp.isfile(path):
                raise MissingInputError(f'{split}_evaluator.ann_file {path} does not exist (--data-root sets it)')
    checkpoints: List[Tuple[str, str]] = []
    if 'train' in splits and cfg.get('load_from') and not cfg.get('resume'):  # tools/test.py checks its own
        checkpoints.append(('load_from', cfg.load_from))
    model = cfg.get('model') or {}
    for part in ('backbone', 'neck'):
        init = (model.get(part) or {}).get('init_cfg') or {}
        if isinstance(init, dict) and init.get('type') == 'Pretrained' and init.get('checkpoint'):
            checkpoints.append((f'model.{part}.init_cfg.checkpoint', init['checkpoint']))
    for key, path in checkpoints:
        if '://' not in str(path):  # torchvision://, open-mmlab://, http(s)://: mmengine fetches or fails itself
            require_checkpoint(path, key)


def unread_top_level_keys(cfg: Config) -> List[str]:
    """Top-level keys that look like a misspelt key mmengine reads (``default_hook``), each with the
    key it probably means. Other top-level names are the config's own variables and are left alone."""
    problems = []
    for key in cfg.keys():
        if key in CONFIG_KEYS:
            continue
        close = difflib.get_close_matches(key, sorted(CONFIG_KEYS), n=1, cutoff=0.85)
        if close:
            problems.append(f"top-level key '{key}' is read by nothing; did you mean '{close[0]}'?")
    return problems


def accepted_arguments(cls: type) -> Optional[Set[str]]:
    """The keyword arguments ``cls(...)`` takes: its ``__init__``'s, and, while an ``__init__`` takes
    ``**kwargs``, those of the next class up its MRO (where such classes pass them on)."""
    names: Set[str] = set()
    for klass in cls.__mro__:
        if klass in (torch.nn.Module, object):
            return names
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        try:
            parameters = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            return None
        names |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {'self'}
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            return names
    return names


def _unknown_argument(key: str, cls: type, given, accepted: Set[str]) -> Optional[str]:
    for name in given:
        if name in accepted or name in ('type', '_scope_'):
            continue
        close = difflib.get_close_matches(name, sorted(accepted), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f'its arguments are {sorted(accepted)}'
        return f"{key}: {cls.__name__} has no argument '{name}'; {hint}"
    return None


def _check_built(key: str, config: dict, registry: Registry, scope: str, default: Optional[str] = None,
                 builder_given: Sequence[str] = ()) -> Optional[str]:
    """Whether ``config`` (built from ``registry``) names arguments its class does not take."""
    type_name = config.get('type', default)
    if not isinstance(type_name, str):
        return None
    with registry.switch_scope_and_registry(config.get('_scope_', scope)) as scoped:
        cls = scoped.get(type_name)
    if not isinstance(cls, type):
        return None  # not found here (mmengine will say so), or a function
    accepted = accepted_arguments(cls)
    if accepted is None:
        return None
    return _unknown_argument(key, cls, [name for name in config if name not in builder_given], accepted)


def _model_parts(key: str, model: dict) -> Iterator[Tuple[str, dict]]:
    """The model and the parts built from its config by name: backbone, neck, heads, losses..."""
    yield key, model
    for name, value in model.items():
        if isinstance(value, dict) and 'type' in value and (
                name.endswith(('backbone', 'neck', 'head', 'preprocessor', 'extractor')) or name.startswith('loss')):
            yield from _model_parts(f'{key}.{name}', value)


PLUGIN_KEYS = ('cfg', 'position', 'stages')


def _plugin_problem(backbone: dict, scope: str) -> Optional[str]:
    """What the config shows to be wrong with ``model.backbone.plugins``: a backbone without plugins, the
    form of each plugin, its position, stages and arguments."""
    key = 'model.backbone.plugins'
    with MODELS.switch_scope_and_registry(backbone.get('_scope_', scope)) as scoped:
        cls = scoped.get(backbone.get('type', ''))
    if not isinstance(cls, type):
        return None  # mmengine names an unknown type itself
    if 'plugins' not in (accepted_arguments(cls) or {'plugins'}):
        return (f"{key}: {cls.__name__} takes no plugins; mmdet's ResNet, ResNetV1d, ResNeXt, Res2Net and "
                'RegNet do' + (' (our SE backbones have SE built in: se_ratio, se_placement, se_stages)'
                               if cls.__module__.startswith('se_plugins.') else ''))
    plugins = backbone['plugins']
    if not isinstance(plugins, (list, tuple)):
        return f'{key}: a list of dict(cfg=..., position=..., stages=...), not {type(plugins).__name__}'
    num_stages = backbone.get('num_stages', 4)
    for index, plugin in enumerate(plugins):
        where = f'{key}[{index}]'
        if not isinstance(plugin, dict) or not isinstance(plugin.get('cfg'), dict) or 'position' not in plugin:
            return f'{where}: needs cfg=dict(type=...) and position=...'
        unknown = sorted(set(plugin) - set(PLUGIN_KEYS))
        if unknown:
            return f"{where}: unknown key '{unknown[0]}'; a plugin has {list(PLUGIN_KEYS)}"
        if plugin['position'] not in PLUGIN_POSITIONS:
            return (f"{where}.position: {plugin['position']!r} is not a plugin position; choose one of "
                    f'{list(PLUGIN_POSITIONS)}')
        stages = plugin.get('stages')
        if stages is not None and len(stages) != num_stages:
            return f'{where}.stages: one bool per stage ({num_stages}), got {tuple(stages)}'
        problem = _check_built(f'{where}.cfg', plugin['cfg'], MODELS, scope, builder_given=('in_channels', ))
        if problem:
            return problem
    depth = backbone.get('depth')
    block = getattr(cls, 'arch_settings', {}).get(depth, (None, ))[0]
    if block is not None and block.__name__ == 'BasicBlock':
        return (f'{key}: {cls.__name__}-{depth} has basic blocks, which take no plugins in mmdet; use depth 50, '
                '101 or 152')
    return None


def _plugin_build_problem(backbone: dict, scope: str) -> Optional[str]:
    """What only the channel widths tell (a ratio that leaves no channel): the backbone built on the meta
    device, which allocates no memory and loads no weights."""
    try:
        with torch.device('meta'), MODELS.switch_scope_and_registry(scope) as scoped:
            scoped.build(dict(backbone, init_cfg=None))
    except StopRun as error:
        return f'model.backbone.plugins: {input_error_message(error)}'
    return None


def check_arguments(cfg: Config, splits: Sequence[str]) -> None:
    """Check, before anything is built, that every part a tool builds from the config by name takes the
    arguments the config gives it: the model and its parts, the datasets, dataloaders and samplers of
    ``splits``, the loops, hooks, optimizer wrapper and optimizer, and the backbone's plugins (their
    positions, stages and arguments, and a dry build of the backbone). One :class:`InputError` names
    the first unknown argument with its config key and the closest valid name:
    ``model.backbone: SEResNet has no argument 'se_ratoi'; did you mean 'se_ratio'?``.

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
    checks = [(key, part, MODELS, None, ()) for key, part in _model_parts('model', cfg.get('model') or {})]
    checks += [(key, dataset, DATASETS, None, ()) for key, dataset in _datasets(cfg, splits)]
    loader_arguments = set(inspect.signature(DataLoader.__init__).parameters) - {'self'}
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        problem = _unknown_argument(f'{split}_dataloader', DataLoader, loader, loader_arguments)
        if problem:
            raise InputError(problem)
        if isinstance(loader.get('sampler'), dict):
            checks.append((f'{split}_dataloader.sampler', loader['sampler'], DATA_SAMPLERS, None, ()))
    given_by_runner = ('runner', 'dataloader', 'evaluator')
    if 'train' in splits and cfg.get('train_cfg'):
        loop = dict(cfg.train_cfg)
        default = 'EpochBasedTrainLoop' if loop.pop('by_epoch', False) else 'IterBasedTrainLoop'
        checks.append(('train_cfg', loop, LOOPS, default, given_by_runner))
    for split, default in (('val', 'ValLoop'), ('test', 'TestLoop')):
        if split in splits and cfg.get(f'{split}_cfg'):
            checks.append((f'{split}_cfg', cfg[f'{split}_cfg'], LOOPS, default, given_by_runner))
    for name, hook in (cfg.get('default_hooks') or {}).items():
        if isinstance(hook, dict):
            checks.append((f'default_hooks.{name}', hook, HOOKS, None, ()))
    for index, hook in enumerate(cfg.get('custom_hooks') or []):
        checks.append((f'custom_hooks[{index}]', hook, HOOKS, None, ()))
    wrapper = cfg.get('optim_wrapper') if 'train' in splits else None
    if isinstance(wrapper, dict) and 'constructor' not in wrapper:
        checks.append(('optim_wrapper', wrapper, OPTIM_WRAPPERS, 'OptimWrapper', ('paramwise_cfg',)))
        if isinstance(wrapper.get('optimizer'), dict):
            checks.append(('optim_wrapper.optimizer', wrapper['optimizer'], OPTIMIZERS, None, ()))
    for key, config, registry, default, given in checks:
        problem = _check_built(key, config, registry, scope, default, given)
        if problem:
            raise InputError(problem)
    if plugins:
        problem = _plugin_build_problem(backbone, scope)  # its arguments are known to be right by now
        if problem:
            raise InputError(problem)
