"""The paths a config names (data roots, image folders, annotation files, checkpoints) and its top-level keys;
pointing every dataloader at the user's data."""
import difflib
import inspect
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.runner import Runner

from se_plugins.utils import MissingInputError
from se_plugins.weights import is_source

from ..checkpoint import require_checkpoint

SPLITS = ('train', 'val', 'test')
# What mmengine's Runner reads from a config, and what configs use for themselves.
RUNNER_KEYS = frozenset(inspect.signature(Runner.__init__).parameters) - {'self'}
CONFIG_KEYS = RUNNER_KEYS | {'_base_', 'custom_imports', 'default_scope', 'launcher', 'work_dir', 'resume',
                             'load_from', 'randomness', 'env_cfg', 'log_level', 'log_processor', 'visualizer',
                             'vis_backends', 'model_wrapper_cfg', 'find_unused_parameters', 'auto_scale_lr',
                             'experiment_name', 'cfg', 'backend_args', 'data_preprocessor', 'runner_type'}


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
