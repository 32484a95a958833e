"""Parts no registry builds by name, checked by what takes them: a backbone's plugins (with what the backbone
passes them), a dataloader's needs beyond its signature, and mmcv's NMS and RoI ops (looked up by name in mmcv)."""
import difflib
import inspect
import sys
from typing import Iterator, Optional, Tuple

import torch
from mmengine.registry import MODELS

from se_plugins.models.layers import PLUGIN_POSITIONS
from se_plugins.utils import StopRun, input_error_message

from .signatures import _argument_problem, _check_built, _parameters, accepted_arguments

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


def _model_build_problem(model: dict, scope: str) -> Optional[str]:
    """What only building the model tells (a part that takes ``None`` in its signature but needs a config, a layer
    config's own keys): the model built on the meta device, which allocates no memory and loads no weights. A
    layer that cannot be built there (it reads a value at build time) is not the config's fault: left to the run.
    """
    try:
        with torch.device('meta'), MODELS.switch_scope_and_registry(scope) as scoped:
            scoped.build(model)
    except StopRun as error:
        return f'model: {input_error_message(error)}'
    except (TypeError, ValueError, KeyError, AssertionError) as error:
        return f"model: {model.get('type')}: {error or type(error).__name__}"
    except RuntimeError:  # a layer that reads a tensor's value as it is built (impossible on the meta device)
        return None
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
