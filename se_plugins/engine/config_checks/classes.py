"""The number of classes the data has against every number the model states, and the top-k the data allows."""
import os
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config

from se_plugins.building import dataset_class
from se_plugins.utils import InputError

from .paths import _datasets, _evaluators


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
