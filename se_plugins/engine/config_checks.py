"""Checks of a config before anything is built or written: arguments its parts do not take, paths it
names, top-level keys nothing reads; and pointing every dataloader at the user's data."""
import ast
import difflib
import glob
import inspect
import os
import os.path as osp
import sys
import textwrap
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import (DATA_SAMPLERS, DATASETS, HOOKS, LOG_PROCESSORS, LOOPS, METRICS, MODELS, OPTIM_WRAPPERS,
                               OPTIMIZERS, PARAM_SCHEDULERS, TASK_UTILS, TRANSFORMS, VISBACKENDS, VISUALIZERS,
                               WEIGHT_INITIALIZERS, Registry)
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from se_plugins.building import dataset_class
from se_plugins.models.layers import PLUGIN_POSITIONS
from se_plugins.utils import InputError, MissingInputError, StopRun, input_error_message, number_problem
from se_plugins.weights import is_source

from .checkpoint import require_checkpoint

SPLITS = ('train', 'val', 'test')
# What mmengine's Runner reads from a config, and what configs use for themselves.
RUNNER_KEYS = frozenset(inspect.signature(Runner.__init__).parameters) - {'self'}
CONFIG_KEYS = RUNNER_KEYS | {'_base_', 'custom_imports', 'default_scope', 'launcher', 'work_dir', 'resume',
                             'load_from', 'randomness', 'env_cfg', 'log_level', 'log_processor', 'visualizer',
                             'vis_backends', 'model_wrapper_cfg', 'find_unused_parameters', 'auto_scale_lr',
                             'experiment_name', 'cfg', 'backend_args', 'data_preprocessor'}


def _bases(tree: ast.Module) -> List[str]:
    """The ``_base_`` entries a config file assigns (a string or a list of them)."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == '_base_' for t in node.targets):
            values = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
            return [v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return []


def _closest_config(base: str, resolved: str, config: str) -> str:
    """``; did you mean '...'?`` with the existing config closest to ``base`` (which resolved to ``resolved``
    from ``config``), written as ``base`` is (``pkg::...``, an absolute or a relative path), or nothing."""
    if '::' in base:
        package, relative = base.split('::', 1)
        root = resolved[:-len(relative)] if resolved.endswith(relative) else osp.dirname(resolved)
    else:
        root = osp.dirname(resolved)
        while root and not osp.isdir(root):
            root = osp.dirname(root)
        relative = osp.relpath(resolved, root)
    candidates = [osp.relpath(p, root) for p in glob.glob(osp.join(root, '**', '*.py'), recursive=True)][:5000]
    close = difflib.get_close_matches(relative, candidates, n=1, cutoff=0.6)
    if not close:
        return ''
    if '::' in base:
        return f"; did you mean '{package}::{close[0]}'?"
    found = osp.join(root, close[0])
    return f"; did you mean '{found if osp.isabs(base) else osp.relpath(found, osp.dirname(osp.abspath(config)))}'?"


def _base_path(base: str, path: str) -> str:
    """Where ``_base_ = base`` in config ``path`` points: next to ``path``, or in a package's configs
    (``pkg::folder/file.py``: its ``.mim/configs`` in a wheel, ``configs`` in a clone), as mmengine reads it."""
    if '::' not in base:
        return osp.abspath(osp.join(osp.dirname(path), base))
    from mmengine.config.utils import _get_package_and_cfg_path
    from mmengine.utils import get_installed_path, is_installed

    package, relative = _get_package_and_cfg_path(base)
    if not is_installed(package):
        raise ModuleNotFoundError(f'{package} is not installed')
    root = get_installed_path(package)
    configs = osp.join(root, '.mim', 'configs')
    return osp.join(configs if osp.isdir(configs) else osp.join(root, 'configs'), relative)


def read_config(path: str) -> Config:
    """``Config.fromfile(path)``, with one :class:`InputError` where mmengine would end in a traceback: a
    config file (or one of its ``_base_`` files, by path or ``pkg::``) that does not exist, naming the closest
    config that does, or a syntax error, naming the file and line."""
    _check_config_file(path, [])
    return Config.fromfile(path)


def _check_config_file(path: str, chain: List[str]) -> None:
    if not osp.isfile(path):
        raise MissingInputError(f'config file {path} does not exist')
    with open(path, encoding='utf-8') as f:
        source = f.read()
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as error:
        raise InputError(f'{path}:{error.lineno}: syntax error in the config: {error.msg}') from None
    for base in _bases(tree):
        try:
            resolved = _base_path(base, path)
        except (ModuleNotFoundError, ValueError) as error:
            raise InputError(f"{path}: _base_ '{base}': {error}") from None
        if not osp.isfile(resolved):
            raise MissingInputError(f"{path}: _base_ '{base}' does not exist ({resolved})"
                                    + _closest_config(base, resolved, path))
        if osp.abspath(resolved) not in chain:
            _check_config_file(resolved, chain + [osp.abspath(path)])


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
    dataset's data root, image folders (``data_prefix``), annotation file and classes file, the evaluators'
    annotation files, ``load_from`` (when training; ``tools/test.py`` checks its checkpoint argument itself)
    and the backbone's pretrained checkpoint. One :class:`InputError` names the first missing one and its key.

    Args:
        cfg: The config.
        splits: The splits the tool uses: ``('train', 'val')`` to train, ``('test',)`` to test.
    """
    for key, dataset in _datasets(cfg, splits):
        root = dataset.get('data_root') or ''
        if root and '://' not in root and not osp.isdir(root):
            raise MissingInputError(f'{key}.data_root {root} is not a directory (set it with --data-root)')
        prefix = dataset.get('data_prefix')
        for name, folder in (prefix.items() if isinstance(prefix, dict) else [(None, prefix)]):
            path = osp.join(root, folder) if isinstance(folder, str) and folder else None
            if path and '://' not in path and not osp.isdir(path):
                where = f'{key}.data_prefix' + (f'.{name}' if name else '')
                raise MissingInputError(f'{where} {path} is not a directory')
        classes = (dataset.get('metainfo') or {}).get('classes') or dataset.get('classes')
        if isinstance(classes, str) and not osp.isfile(classes):
            raise MissingInputError(f'{key}.classes {classes} does not exist (a file of class names, one a line)')
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
    for key, path in checkpoints:  # public SE weights (timm://...) are fetched into their cache now if need be
        if '://' not in str(path) or is_source(path):  # torchvision://, http(s)://: mmengine fetches or fails itself
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


def _parameters(cls: type) -> Optional[Dict[str, inspect.Parameter]]:
    """The keyword parameters ``cls(...)`` takes: its ``__init__``'s, and, while an ``__init__`` takes
    ``**kwargs``, those of the next class up its MRO (where such classes pass them on). The nearest
    declaration of a name wins: a subclass that gives a base's required argument a default makes it
    optional. ``None`` if a signature cannot be read."""
    found: Dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if klass in (torch.nn.Module, object):
            return found
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        try:
            parameters = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            return None
        for parameter in parameters:
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY) and parameter.name != 'self':
                found.setdefault(parameter.name, parameter)
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            return found
    return found


def accepted_arguments(cls: type) -> Optional[Set[str]]:
    """The keyword arguments ``cls(...)`` takes (see :func:`_parameters`); ``None`` if unknown."""
    parameters = _parameters(cls)
    return None if parameters is None else set(parameters)


def _argument_problem(key: str, cls: Callable, config: dict, parameters: Dict[str, inspect.Parameter],
                      given: Sequence[str] = (), required: Optional[Sequence[str]] = None) -> Optional[str]:
    """The first thing wrong with the arguments ``config`` gives ``cls``: one it does not take (with the
    closest name it does), a number out of range or a string where a number belongs
    (:func:`~se_plugins.utils.number_problem`), or a required one missing. ``given``: what the builder
    passes itself; ``required``: what a config must give a function (a class's: :func:`_required`)."""
    for name, value in config.items():
        if name in ('type', '_scope_') or name in given:
            continue
        if name not in parameters:
            close = difflib.get_close_matches(name, sorted(parameters), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f'its arguments are {sorted(parameters)}'
            return f"{key}: {cls.__name__} has no argument '{name}'; {hint}"
        problem = number_problem(name, value, parameters[name].default, parameters[name].annotation)
        if problem:
            return f'{key}.{name} {problem}'
    for name in _required(cls) if required is None else required:
        if name not in config and name not in given:
            return f"{key}: {cls.__name__} needs the argument '{name}', which is missing"
    return None


def _base_call(init) -> Optional[ast.Call]:
    """The call of the base's ``__init__`` in ``init``'s source (``super().__init__(...)`` or
    ``Base.__init__(self, ...)``), if it can be read."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == '__init__':
            return node
    return None


def _required(cls: type) -> List[str]:
    """The arguments a config must give ``cls``: those its ``__init__`` requires, and, while it passes
    ``**kwargs`` on, those its bases require that it does not give them itself (by name, or by position:
    ``SEPlugin`` passes its ``in_channels`` as ``SqueezeExcitation``'s ``channels``; mmengine's
    ``LRSchedulerMixin`` passes ``'lr'`` as the scheduler's ``param_name``)."""
    required: List[str] = []
    declared: Set[str] = set()
    passed: Set[str] = set()
    by_position = 0
    for klass in cls.__mro__:
        if klass in (torch.nn.Module, object):
            break
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        try:
            parameters = list(inspect.signature(init).parameters.values())[1:]  # without self
        except (TypeError, ValueError):
            break
        positional = [p.name for p in parameters if p.kind == p.POSITIONAL_OR_KEYWORD][:by_position]
        for parameter in parameters:
            if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
                continue
            if (parameter.default is parameter.empty and parameter.name not in declared | passed
                    and parameter.name not in positional):
                required.append(parameter.name)
            declared.add(parameter.name)
        call = _base_call(init) if any(p.kind == p.VAR_KEYWORD for p in parameters) else None
        if call is None:
            break
        explicit_self = isinstance(call.func.value, ast.Name)  # Base.__init__(self, ...)
        by_position = sum(not isinstance(a, ast.Starred) for a in call.args) - explicit_self
        passed |= {keyword.arg for keyword in call.keywords if keyword.arg}
    return required


def _unknown_type_problem(key: str, type_name: str, scoped: Registry) -> str:
    """The type ``scoped`` (the registry of the scope a part is built in) does not have: where it is
    registered instead (a part of a config inherited with ``se_plugins::`` is built in our scope, where
    mmpretrain's ``CustomDataset`` is ``mmpretrain.CustomDataset``), or the closest name it has."""
    name = type_name.split('.')[-1]
    root = scoped.root
    elsewhere = sorted(scope for scope, child in root.children.items() if name in child.module_dict)
    if name in root.module_dict:
        elsewhere.insert(0, root.scope)
    if elsewhere:
        hint = f"it is {elsewhere[0]}'s: write type='{elsewhere[0]}.{name}'"
    else:
        names = set(scoped.module_dict) | set(root.module_dict)
        close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else 'is the module that registers it imported?'
    return f"{key}.type: '{type_name}' is not a {scoped.name} of scope '{scoped.scope}'; {hint}"


def _check_built(key: str, config: dict, registry: Registry, scope: str, default: Optional[str] = None,
                 given: Sequence[str] = ()) -> Optional[str]:
    """What is wrong with the arguments ``config`` gives the class ``registry`` builds from it."""
    type_name = config.get('type', default)
    if not isinstance(type_name, str):
        return None
    with registry.switch_scope_and_registry(config.get('_scope_', scope)) as scoped:
        cls = scoped.get(type_name)
    if cls is None:
        return _unknown_type_problem(key, type_name, scoped)
    if not isinstance(cls, type):
        return None  # a function
    parameters = _parameters(cls)
    if parameters is None:
        return None
    return _argument_problem(key, cls, config, parameters, given)


def _dry_build_problem(key: str, config: dict, registry: Registry, scope: str) -> Optional[str]:
    """What the constructor of a part with no side effects says about its values (a transform, an
    assigner, a scheduler on a stand-in optimizer, a data preprocessor): ``RandomFlip`` without ``prob``,
    ``milestones`` that are not a list, a ``mean`` without its ``std``. Other parts are not built here."""
    if registry not in (TRANSFORMS, TASK_UTILS, PARAM_SCHEDULERS) and not key.endswith('data_preprocessor'):
        return None
    if registry is PARAM_SCHEDULERS:
        config = dict(config, optimizer=torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))
    try:
        with registry.switch_scope_and_registry(config.get('_scope_', scope)) as scoped:
            scoped.build(config)
    except StopRun as error:
        return f'{key}: {input_error_message(error)}'
    except (TypeError, ValueError, AssertionError, KeyError, AttributeError) as error:
        return f"{key}: {config.get('type')}: {error or type(error).__name__}"
    return None


# The registry that builds a part, by the key that holds it; a part's own parts use its registry unless
# their key is here. With what the builder passes itself (the plugin's in_channels, a backend's save_dir).
PART_REGISTRIES = {
    'pipeline': TRANSFORMS, 'transforms': TRANSFORMS, 'init_cfg': WEIGHT_INITIALIZERS,
    'anchor_generator': TASK_UTILS, 'prior_generator': TASK_UTILS, 'bbox_coder': TASK_UTILS,
    'assigner': TASK_UTILS, 'sampler': TASK_UTILS, 'iou_calculator': TASK_UTILS, 'vis_backends': VISBACKENDS,
}
GIVEN_BY_BUILDER = {'vis_backends': ('save_dir', ), 'sampler': ('dataset', 'seed'),
                    'batch_sampler': ('sampler', 'batch_size'), 'param_scheduler': ('optimizer', ),
                    'optimizer': ('params', ), 'loop': ('runner', 'dataloader', 'evaluator')}
# Typed dicts that no registry builds: mmcv reads them key by key (nms, roi_layer: its functions and ops; the
# layer configs norm_cfg, act_cfg, conv_cfg, whose keys such as requires_grad are its own), or they live inside
# another part's arguments (an initialiser's override); and the plugins, which
# _plugin_problem checks with what the backbone passes them.
NOT_BUILT_BY_NAME = ('nms', 'roi_layer', 'override', 'plugins', 'norm_cfg', 'act_cfg', 'conv_cfg', 'upsample_cfg',
                     'dcn')


def _parts(key: str, value, registry: Registry, given: Sequence[str] = ()) -> Iterator[Tuple]:
    """Every dict with a ``type`` in ``value`` (through lists and plain dicts), as ``(key, config,
    registry, default type, given)``."""
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _parts(f'{key}[{index}]', item, registry, given)
        return
    if not isinstance(value, dict):
        return
    if 'type' in value:
        yield key, value, registry, None, given
    for name, child in value.items():
        if name not in NOT_BUILT_BY_NAME:
            yield from _parts(f'{key}.{name}', child, PART_REGISTRIES.get(name, registry),
                              GIVEN_BY_BUILDER.get(name, ()))


def built_parts(cfg: Config, splits: Sequence[str]) -> Iterator[Tuple]:
    """What a tool builds from the config by name for ``splits``, as ``(key, config, registry, default
    type, given)``: the model and every part of it, each split's dataset (its pipeline), sampler and
    evaluator, the loops, hooks, optimizer wrapper, optimizer and schedulers, the visualizer and the log
    processor. The dataloaders themselves are checked against ``DataLoader`` in :func:`check_arguments`."""
    yield from _parts('model', cfg.get('model'), MODELS)
    for split in splits:
        loader = cfg.get(f'{split}_dataloader') or {}
        # any dataset takes max_bad_images: ours themselves, others from the Runner (se_plugins.GuardedImages)
        yield from _parts(f'{split}_dataloader.dataset', loader.get('dataset'), DATASETS, ('max_bad_images', ))
        for name, registry in (('sampler', DATA_SAMPLERS), ('batch_sampler', DATA_SAMPLERS)):
            yield from _parts(f'{split}_dataloader.{name}', loader.get(name), registry, GIVEN_BY_BUILDER[name])
        if split != 'train':
            yield from _parts(f'{split}_evaluator', cfg.get(f'{split}_evaluator'), METRICS)
    if 'train' in splits and cfg.get('train_cfg'):
        loop = dict(cfg.train_cfg)
        default = 'EpochBasedTrainLoop' if loop.pop('by_epoch', False) else 'IterBasedTrainLoop'
        yield 'train_cfg', loop, LOOPS, default, GIVEN_BY_BUILDER['loop']
    for split, default in (('val', 'ValLoop'), ('test', 'TestLoop')):
        if split in splits and cfg.get(f'{split}_cfg'):
            yield f'{split}_cfg', cfg[f'{split}_cfg'], LOOPS, default, GIVEN_BY_BUILDER['loop']
    for name, hook in (cfg.get('default_hooks') or {}).items():
        yield from _parts(f'default_hooks.{name}', hook, HOOKS)
    yield from _parts('custom_hooks', cfg.get('custom_hooks'), HOOKS)
    wrapper = cfg.get('optim_wrapper') if 'train' in splits else None
    if isinstance(wrapper, dict) and 'constructor' not in wrapper:
        yield 'optim_wrapper', wrapper, OPTIM_WRAPPERS, 'OptimWrapper', ('paramwise_cfg', )
        yield from _parts('optim_wrapper.optimizer', wrapper.get('optimizer'), OPTIMIZERS,
                          GIVEN_BY_BUILDER['optimizer'])
    if 'train' in splits:
        yield from _parts('param_scheduler', cfg.get('param_scheduler'), PARAM_SCHEDULERS,
                          GIVEN_BY_BUILDER['param_scheduler'])
    visualizer = cfg.get('visualizer')
    if isinstance(visualizer, dict):
        yield from _parts('visualizer', visualizer, VISUALIZERS)
    log_processor = cfg.get('log_processor')
    if isinstance(log_processor, dict):
        yield 'log_processor', log_processor, LOG_PROCESSORS, 'LogProcessor', ()


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
        if stages is not None and isinstance(num_stages, int) and len(stages) != num_stages:  # else: its own check
            return f'{where}.stages: one bool per stage ({num_stages}), got {tuple(stages)}'
        problem = _check_built(f'{where}.cfg', plugin['cfg'], MODELS, scope, given=('in_channels', ))
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
    except (TypeError, ValueError, KeyError, AssertionError) as error:  # a layer config's own keys (norm_cfg)
        return f"model.backbone: {backbone.get('type')}: {error or type(error).__name__}"
    return None


def _loader_problem(key: str, loader: dict) -> Optional[str]:
    """What a Runner's dataloader config needs beyond ``DataLoader``'s signature: a sampler (the Runner
    builds it with the dataset; without one each process would read every sample), a ``batch_size`` for
    its batch sampler, and workers to keep when ``persistent_workers`` is set."""
    if 'sampler' not in loader:
        return f"{key}: needs a 'sampler', e.g. sampler=dict(type='DefaultSampler', shuffle=True), which is missing"
    if isinstance(loader.get('batch_sampler'), dict) and 'batch_size' not in loader:
        sampler = loader['batch_sampler'].get('type')
        return f"{key}: needs 'batch_size' for its batch_sampler ({sampler}), which is missing"
    if loader.get('persistent_workers') and not loader.get('num_workers'):
        return (f'{key}.persistent_workers=True needs {key}.num_workers of at least 1, got '
                f"{loader.get('num_workers', 0)}; set num_workers or persistent_workers=False")
    return None


# mmcv's batched_nms looks ``nms.type`` up by name in mmcv.ops.nms and passes the rest of the dict to it (once it
# has taken class_agnostic and split_thr); mmdet's RoI extractors take ``roi_layer.type`` from mmcv.ops and give
# it spatial_scale. No registry builds either, and a detector meets its test-time NMS only when it first
# evaluates, after an epoch of training: so they are checked by name here.
NMS_OPS = ('nms', 'soft_nms', 'nms_rotated', 'nms_quadri')
NMS_GIVEN = ('boxes', 'scores', 'class_agnostic', 'split_thr')


def _mmcv_ops_configs(key: str, value) -> Iterator[Tuple[str, str, dict]]:
    """Every ``nms`` and ``roi_layer`` dict in ``value``, as ``(key, which, config)``."""
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _mmcv_ops_configs(f'{key}[{index}]', item)
    elif isinstance(value, dict):
        for name, child in value.items():
            if name in ('nms', 'roi_layer') and isinstance(child, dict):
                yield f'{key}.{name}', name, child
            else:
                yield from _mmcv_ops_configs(f'{key}.{name}', child)


def _mmcv_op_problem(key: str, which: str, config: dict) -> Optional[str]:
    """What is wrong with an ``nms`` or ``roi_layer`` config: a type mmcv does not have (with the closest one
    it has), or an argument its function or class does not take or needs."""
    import mmcv.ops  # here: mmcv's compiled ops load only for a config that names them
    type_name = config.get('type', 'nms' if which == 'nms' else None)
    if not isinstance(type_name, str):
        return None  # a function or class given itself
    if which == 'nms':
        module, known, given = sys.modules['mmcv.ops.nms'], NMS_OPS, NMS_GIVEN
    else:
        module, given = mmcv.ops, ('spatial_scale', )
        known = tuple(name for name, op in vars(mmcv.ops).items()
                      if isinstance(op, type) and issubclass(op, torch.nn.Module) and name.startswith('RoI'))
    if type_name not in known or not hasattr(module, type_name):
        close = difflib.get_close_matches(type_name, known, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f'choose one of {sorted(known)}'
        return f"{key}.type: '{type_name}' is not one of mmcv's {'NMS' if which == 'nms' else 'RoI'} ops; {hint}"
    op = getattr(module, type_name)
    if isinstance(op, type):
        return _argument_problem(key, op, config, _parameters(op) or {}, given)
    parameters = {name: parameter for name, parameter in inspect.signature(op).parameters.items()
                  if name not in given}
    required = [name for name, parameter in parameters.items() if parameter.default is parameter.empty]
    return _argument_problem(key, op, config, parameters, given, required)


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


def _named_classes(dataset: dict) -> Optional[List[str]]:
    """The classes a dataset config names: its ``metainfo.classes``, or mmpretrain's ``classes``, a list or a
    file of class names, one a line."""
    classes = (dataset.get('metainfo') or {}).get('classes') or dataset.get('classes')
    if isinstance(classes, str) and osp.isfile(classes):
        with open(classes) as f:
            return [line.strip() for line in f if line.strip()]
    return list(classes) if isinstance(classes, (list, tuple)) and classes else None


def _image_folder(dataset: dict, default: str = '') -> str:
    """The folder a dataset config reads its images from: ``data_root`` joined with ``data_prefix`` (or
    its ``img_path``), or with ``default`` when it gives none."""
    prefix = dataset.get('data_prefix') or ''
    prefix = prefix.get('img_path', '') if isinstance(prefix, dict) else prefix
    return osp.join(dataset.get('data_root') or '', prefix or default)


def _class_folders(folder: str) -> List[str]:
    """The subfolders of ``folder`` (none if it is not a directory)."""
    return [name for name in os.listdir(folder) if osp.isdir(osp.join(folder, name))] if osp.isdir(folder) else []


def _data_classes(cfg: Config, splits: Sequence[str]) -> Optional[Tuple[int, str]]:
    """How many classes the data of ``splits`` has, and what says so (the first dataset that does): its
    ``metainfo.classes`` (or classes file), the class folders of a folder-of-folders dataset, or the dataset
    type's own classes (ImageNet, Places365, COCO)."""
    scope = cfg.get('default_scope') or 'mmengine'
    for key, dataset in _datasets(cfg, splits):
        classes = _named_classes(dataset)
        if classes:
            named = (dataset.get('metainfo') or {}).get('classes') or dataset.get('classes')
            return len(classes), (f'the class names in {named} ({key})' if isinstance(named, str)
                                  else f'{key}.metainfo.classes')
        kind = dataset.get('type')
        if isinstance(kind, str) and kind.split('.')[-1] == 'CustomDataset' and not dataset.get('ann_file'):
            folder = _image_folder(dataset)
            folders = _class_folders(folder)
            if folders:
                return len(folders), f'the class folders of {folder} ({key})'
            continue
        classes = getattr(dataset_class(dataset, scope), 'METAINFO', {}).get('classes')
        if classes:
            return len(classes), f'{key} ({kind})'
    return None


def _scans_class_folders(cls: type) -> bool:
    """Whether datasets of ``cls`` read their samples from class folders when given no list (mmpretrain's
    ``CustomDataset`` and its subclasses, such as ``ImageNet``)."""
    return any(klass.__name__ == 'CustomDataset' and klass.__module__.startswith('mmpretrain')
               for klass in cls.__mro__)


def _folder_class_problem(cfg: Config, splits: Sequence[str]) -> Optional[str]:
    """A dataset that will scan class folders (no list file) whose folders are not the classes it names
    (its ``metainfo.classes`` or its type's): an ImageNet whose ``split`` was left out scans ``train/`` and
    ``val/`` as two classes."""
    scope = cfg.get('default_scope') or 'mmengine'
    for key, dataset in _datasets(cfg, splits):
        cls = dataset_class(dataset, scope)
        if cls is None or not _scans_class_folders(cls):
            continue
        root, split = dataset.get('data_root') or '', dataset.get('split') or ''
        ann_file = dataset.get('ann_file') or (split and osp.isfile(osp.join(root, 'meta', f'{split}.txt')))
        folder = _image_folder(dataset, default=split)
        if ann_file or not osp.isdir(folder):
            continue
        classes = _named_classes(dataset) or getattr(cls, 'METAINFO', {}).get('classes')
        folders = _class_folders(folder)
        if classes and len(folders) != len(classes):
            shown = ', '.join(sorted(folders)[:4]) + (', ...' if len(folders) > 4 else '')
            return (f"{key}: {dataset['type']} would read {len(folders)} class folders in {folder} ({shown}) but "
                    f'has {len(classes)} classes; point data_prefix or split at the folder of class folders, or '
                    f'set {key}.metainfo.classes')
    return None


def _stated_class_counts(model: dict) -> Iterator[Tuple[str, int]]:
    """Every place a model config states a number of classes: the classification head and data preprocessor,
    mmdet's dense heads and RoI heads (their bbox and mask heads, per stage)."""
    for part in ('head', 'data_preprocessor', 'bbox_head'):
        value = (model.get(part) or {}).get('num_classes') if isinstance(model.get(part), dict) else None
        if isinstance(value, int):
            yield f'model.{part}.num_classes', value
    roi_head = model.get('roi_head') or {}
    for part in ('bbox_head', 'mask_head'):
        heads = roi_head.get(part)
        heads = heads if isinstance(heads, list) else [heads]
        for index, head in enumerate(heads):
            if isinstance(head, dict) and isinstance(head.get('num_classes'), int):
                where = f'[{index}]' if isinstance(roi_head.get(part), list) else ''
                yield f'model.roi_head.{part}{where}.num_classes', head['num_classes']


def check_class_counts(cfg: Config, splits: Sequence[str]) -> None:
    """Check, before anything is built, that every number of classes the model states (head, data
    preprocessor, mmdet's bbox and mask heads) is the number the data has, and that the accuracy's top-k
    fits it. One :class:`InputError` names both numbers and the keys to set.

    Args:
        cfg: The config.
        splits: The splits the tool uses.
    """
    problem = _folder_class_problem(cfg, splits)
    if problem:
        raise InputError(problem)
    found = _data_classes(cfg, splits)
    if found is None:
        return
    count, source = found
    model = dict(cfg.get('model') or {})
    top_level = 'data_preprocessor' not in model and isinstance(cfg.get('data_preprocessor'), dict)
    if top_level:
        model['data_preprocessor'] = cfg.data_preprocessor  # mmengine's Runner merges the top-level one
    stated = [(key[len('model.'):] if top_level and key.startswith('model.data_preprocessor') else key, value)
              for key, value in _stated_class_counts(model)]  # the key to set is where the number is written
    wrong = [(key, value) for key, value in stated if value != count]
    if wrong:
        stated = ', '.join(f'{key}={value}' for key, value in wrong)
        keys = ' '.join(f'{key}={count}' for key, _ in wrong)
        raise InputError(f'the data has {count} classes ({source}) but the model says {stated}; set '
                         f'{keys} (e.g. --cfg-options {keys})')
    for split in set(splits) & {'val', 'test'}:
        for evaluator in _evaluators(cfg, split):
            topk = evaluator.get('topk')
            topk = (topk, ) if isinstance(topk, int) else topk
            if topk and max(topk) > count:
                fitting = tuple(k for k in topk if k <= count) or (1, )
                raise InputError(f'{split}_evaluator.topk={tuple(topk)}: top-{max(topk)} accuracy needs at least '
                                 f'{max(topk)} classes and the data has {count} ({source}); set '
                                 f'{split}_evaluator.topk={fitting}')


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
