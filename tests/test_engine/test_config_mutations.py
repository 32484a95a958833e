"""A mutation test of the config checks: shipped configs, changed at random the ways users get them wrong,
must each end in one InputError naming what was changed, or in a run that would be correct.

What the tools run before building (``check_config``) meets each mutation:

- a key dropped: an ``InputError``, or the part it was dropped from still builds (and a dataset still gives
  a sample through its pipeline, or says what is wrong with an ``InputError`` as it reads its files), so
  the run would be correct;
- a key misspelt, a string where a number was, a number out of range (batch size 0, negative epochs), a
  path that does not exist, a class count the data does not have: an ``InputError`` that names the key.

Anything else, a check that passes a wrong config or another exception, is an escape. The test lists
every escape; a check removed on purpose makes it fail (``test_a_removed_check_lets_mutations_escape``).
"""
import copy
import os.path as osp
import random
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import HOOKS, LOG_PROCESSORS, METRICS, MODELS, PARAM_SCHEDULERS, VISUALIZERS
from mmengine.runner import Runner

import se_plugins  # noqa: F401
from se_plugins.building import in_scope, without_initialisation
from se_plugins.datasets import DETECTION_CLASSES, make_coco_detection, make_imagenet, make_places365
from se_plugins.engine import check_config, config_checks, prepare_training
from se_plugins.engine.config_checks import point_at_data, read_config
from se_plugins.utils import InputError

from helpers import REPO

SPLITS = ('train', 'val')
MUTATIONS = 600  # at least 500, as issue #25 asks; the whole test takes a few seconds per 100
# Configs of each task and dataset kind, with the generated data each points at.
SAMPLE = {
    'configs/imagenet/se-resnet50_8xb32_in1k.py': 'imagenet',
    'configs/places365/se-resnet50_8xb32-scratch_places365.py': 'places365',
    'configs/faster_rcnn_se_r50_coco.py': 'coco',
    'configs/se_plugin/faster-rcnn_r50-se_fpn_1x_coco.py': 'coco',
}
# An initialiser's override (its argument, no registry builds it by name) and the plugins (their own checks
# are in test_config_checks.py): not mutated here. mmcv's nms and roi_layer dicts are (check_arguments checks
# them by name since 2026-12-07: before, a string iou_threshold passed the checks).
NOT_MUTATED = ('override', 'plugins')
OUT_OF_RANGE = {'batch_size': 0, 'num_workers': -1, 'max_epochs': -1, 'max_iters': 0, 'val_interval': 0,
                'lr': -0.1, 'weight_decay': -1e-4, 'num_classes': 0}
PATH_KEYS = ('data_root', 'ann_file', 'data_prefix', 'checkpoint', 'img', 'img_path')
CLASS_COUNT_KEYS = ('model.head', 'model.bbox_head', 'model.roi_head.bbox_head', 'model.roi_head.mask_head')


@pytest.fixture(scope='module')
def data_roots(module_tmp_path) -> Dict[str, str]:
    return dict(
        imagenet=make_imagenet(str(module_tmp_path / 'imagenet'), num_classes=2, train_per_class=2, val_per_class=1,
                               image_size=32),
        places365=make_places365(str(module_tmp_path / 'places365'), num_classes=2, train_per_class=2,
                                 val_per_class=1, image_size=32),
        coco=make_coco_detection(str(module_tmp_path / 'coco'), num_train=2, num_val=2, image_size=32))


def prepared(path: str, kind: str, data_root: str) -> Config:
    """A shipped config as tools/train.py has it before its checks: pointed at the data, our loops, and the
    ImageNet weights it names present (a complete checkpoint file; the checks do not load it)."""
    cfg = read_config(osp.join(REPO, path))
    point_at_data(cfg, data_root)
    prepare_training(cfg)
    if kind == 'coco':  # the generated shapes' classes
        for split in ('train', 'val', 'test'):
            cfg[f'{split}_dataloader'].dataset.metainfo = dict(classes=DETECTION_CLASSES)
        cfg.model.roi_head.bbox_head.num_classes = len(DETECTION_CLASSES)
    init = cfg.model.backbone.get('init_cfg')
    if isinstance(init, dict) and init.get('type') == 'Pretrained':
        init.checkpoint = osp.join(data_root, 'imagenet_weights.pth')
        torch.save({}, init.checkpoint)
    return cfg


def sections(cfg: Config) -> Iterator[Tuple[str, object]]:
    """The parts of a config a training run builds, by their top-level key."""
    for key in ('model', 'train_dataloader', 'val_dataloader', 'val_evaluator', 'train_cfg', 'val_cfg',
                'default_hooks', 'custom_hooks', 'optim_wrapper', 'param_scheduler', 'visualizer', 'log_processor'):
        if cfg.get(key) is not None:
            yield key, cfg[key]


def sites(key: str, value, built: bool) -> Iterator[Tuple[str, dict, str]]:
    """Every argument of a part built by name (a dict with a ``type``, a dataloader, a loop), as (its
    key, the dict that holds it, its name); ``built``: ``value`` itself is such a part."""
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from sites(f'{key}[{index}]', item, True)
        return
    if not isinstance(value, dict):
        return
    if built or 'type' in value:
        for name in value:
            if name not in ('type', '_scope_'):
                yield key, value, name
    for name, child in value.items():
        if name not in NOT_MUTATED and name not in ('metainfo', 'env_cfg'):
            # a dataloader's dataset and sampler are built without a type of their own only in wrappers
            yield from sites(f'{key}.{name}', child, False)


def misspelt(name: str, rng: random.Random) -> str:
    position = rng.randrange(len(name) - 1) if len(name) > 1 else 0
    kind = rng.choice(['swap', 'drop', 'double'])
    if kind == 'swap' and len(name) > 1 and name[position] != name[position + 1]:
        return name[:position] + name[position + 1] + name[position] + name[position + 2:]
    if kind == 'drop' and len(name) > 2:
        return name[:position] + name[position + 1:]
    return name[:position] + name[position] + name[position:]


@dataclass
class Mutation:
    config: str
    key: str  # where the argument is: 'train_dataloader', 'model.backbone'
    name: str  # the argument
    kind: str  # drop, misspell, string, range, path, classes
    value: object = None  # the new value (or the new name, to misspell)

    def __str__(self) -> str:
        return f'{self.config}: {self.kind} {self.key}.{self.name}' + (
            '' if self.kind == 'drop' else f' -> {self.value!r}')


def mutations_of(config: str, cfg: Config, rng: random.Random) -> List[Mutation]:
    found = []
    for section, value in sections(cfg):
        built = section not in ('model', 'default_hooks', 'custom_hooks', 'param_scheduler', 'val_evaluator',
                                'visualizer')  # dataloaders, loops and the wrapper take arguments untyped
        for key, holder, name in sites(section, value, built):
            current = holder[name]
            found.append(Mutation(config, key, name, 'drop'))
            found.append(Mutation(config, key, name, 'misspell', misspelt(name, rng)))
            if isinstance(current, (int, float)) and not isinstance(current, bool):
                found.append(Mutation(config, key, name, 'string', str(current)))
            if name in OUT_OF_RANGE:
                found.append(Mutation(config, key, name, 'range', OUT_OF_RANGE[name]))
            if name in PATH_KEYS and isinstance(current, str) and current:
                found.append(Mutation(config, key, name, 'path', '/nonexistent/' + name))
            if name == 'num_classes' and key in CLASS_COUNT_KEYS:
                found.append(Mutation(config, key, name, 'classes', current + 1))
    return found


def holder_of(cfg: Config, key: str) -> dict:
    """The dict at ``key`` ('model.roi_head.bbox_head', 'custom_hooks[0]')."""
    holder = cfg
    for part in key.replace('[', '.[').split('.'):
        holder = holder[int(part[1:-1])] if part.startswith('[') else holder[part]
    return holder


def apply(mutation: Mutation, cfg: Config) -> Config:
    cfg = copy.deepcopy(cfg)
    holder = holder_of(cfg, mutation.key)
    if mutation.kind == 'drop':
        del holder[mutation.name]
    elif mutation.kind == 'misspell':
        holder[mutation.value] = holder.pop(mutation.name)
    else:
        holder[mutation.name] = mutation.value
    return cfg


def builds(cfg: Config, key: str, tmp_path) -> None:
    """Build the part of ``cfg`` at ``key`` as a run would (the model on the meta device; a dataset down to
    its first sample), raising what the run would raise."""
    scope = cfg.get('default_scope')
    section = key.split('.')[0].split('[')[0]
    with in_scope(scope):
        if section == 'model':
            with without_initialisation():  # on the CPU (mmdet's heads read tensors while they are built)
                MODELS.build(cfg.model)
        elif section.endswith('_dataloader'):
            loader = Runner.build_dataloader(cfg[section], seed=0)
            loader.dataset[0]
        elif section.endswith('_evaluator'):
            METRICS.build(cfg[section])
        elif section in ('default_hooks', 'custom_hooks'):
            HOOKS.build(holder_of(cfg, '.'.join(key.split('.')[:2]) if section == 'default_hooks'
                                  else key.split('.')[0]))
        elif section in ('optim_wrapper', 'param_scheduler'):
            wrapper = build_optim_wrapper(torch.nn.Linear(2, 2), cfg.optim_wrapper)
            schedulers = cfg.param_scheduler if isinstance(cfg.param_scheduler, list) else [cfg.param_scheduler]
            for scheduler in schedulers if section == 'param_scheduler' else []:
                PARAM_SCHEDULERS.build(dict(scheduler, optimizer=wrapper.optimizer))
        elif section == 'visualizer':
            VISUALIZERS.build(dict(cfg.visualizer, name=f'mutation{id(cfg)}', save_dir=str(tmp_path)))
        elif section == 'log_processor':
            LOG_PROCESSORS.build(dict(dict(type='LogProcessor'), **cfg.log_processor))
        # the loops need a Runner: what they are given is checked against their signatures only


def outcome(mutation: Mutation, cfg: Config, tmp_path, check: Callable = check_config) -> Optional[str]:
    """``None`` if the mutation ended as it must, else what escaped."""
    mutated = apply(mutation, cfg)
    try:
        check(mutated, SPLITS)
    except InputError as error:
        named = mutation.value if mutation.kind == 'misspell' else mutation.name
        if mutation.kind == 'drop' or str(named) in str(error):
            return None
        return f'the error does not name {named!r}: {error}'
    except Exception as error:  # noqa: B902 -- what the test is for
        return f'{type(error).__name__} from the checks: {error}'
    if mutation.kind != 'drop':
        return 'passed the checks'
    try:
        builds(mutated, mutation.key, tmp_path)
    except InputError:
        return None  # what a dataset says when it reads its files: one error line, and the tool leaves nothing
    except Exception as error:  # noqa: B902
        return f'passed the checks, then {type(error).__name__}: {str(error)[:300]}'
    return None


def run_mutations(data_roots, tmp_path, count: int, kinds=None, check: Callable = check_config):
    rng = random.Random(25)
    prepared_configs = {path: prepared(path, kind, data_roots[kind]) for path, kind in SAMPLE.items()}
    candidates = [m for path, cfg in prepared_configs.items() for m in mutations_of(path, cfg, rng)
                  if kinds is None or m.kind in kinds]
    chosen = rng.sample(candidates, min(count, len(candidates)))
    escapes = []
    for mutation in chosen:
        problem = outcome(mutation, prepared_configs[mutation.config], tmp_path, check)
        if problem:
            escapes.append(f'{mutation}: {problem}')
    return chosen, escapes


def test_the_sampled_configs_pass_the_checks_unchanged(data_roots):
    for path, kind in SAMPLE.items():
        check_config(prepared(path, kind, data_roots[kind]), SPLITS)


def test_every_mutation_ends_in_an_input_error_naming_it_or_in_a_correct_run(data_roots, tmp_path):
    tried, escapes = run_mutations(data_roots, tmp_path, MUTATIONS)
    kinds = {kind: sum(m.kind == kind for m in tried)
             for kind in ('drop', 'misspell', 'string', 'range', 'path', 'classes')}
    print(f'{len(tried)} mutations tried: {kinds}; {len(escapes)} escaped')
    assert len(tried) >= 500 and all(kinds.values()), kinds
    assert escapes == [], '\n'.join(escapes)


def test_a_removed_check_lets_mutations_escape(data_roots, tmp_path, monkeypatch):
    monkeypatch.setattr(config_checks.signatures, 'number_problem', lambda *args, **kwargs: None)
    tried, escapes = run_mutations(data_roots, tmp_path, 60, kinds=('string', 'range'))
    assert tried and len(escapes) >= len(tried) // 2, escapes
