"""Every part a tool builds from a config by name, with the registry that builds it: the one walk over a config
that the argument checks take."""
from typing import Iterator, Sequence, Tuple

from mmengine.config import Config
from mmengine.registry import (DATA_SAMPLERS, DATASETS, HOOKS, LOG_PROCESSORS, LOOPS, METRICS, MODELS, OPTIM_WRAPPERS,
                               OPTIMIZERS, PARAM_SCHEDULERS, TASK_UTILS, TRANSFORMS, VISBACKENDS, VISUALIZERS,
                               WEIGHT_INITIALIZERS, Registry)

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
