import os.path as osp
from functools import partial
from typing import Tuple

from mmpretrain.datasets import BaseDataset

from se_plugins.registry import DATASETS
from se_plugins.utils import InputError, MissingInputError, check_choice

from .image_checks import NamedImageErrorsMixin
from .image_list import ImageList, ImageListMixin, parse_list_line, read_image_list

_HERE = osp.dirname(__file__)
# The official release's file lists, the images of each split and resolution.
SPLITS = {
    'train': ('places365_train_standard.txt', 'data_{resolution}'),
    'train_challenge': ('places365_train_challenge.txt', 'data_{resolution}'),
    'val': ('places365_val.txt', 'val_{resolution}'),
}
RESOLUTIONS = ('256', 'large')


def read_categories(path: str) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """Read ``categories_places365.txt``: lines ``/a/airfield 0`` in index order.

    Returns:
        The official category paths (``/a/airfield``) and the class names (``airfield``,
        ``apartment_building/outdoor``).
    """
    paths = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) != len(paths):
                raise InputError(f'{path}:{lineno}: expected "/<letter>/<category> {len(paths)}", '
                                 f'got {line.rstrip()!r}')
            paths.append(parts[0])
    return tuple(paths), tuple(p.split('/', 2)[2] for p in paths)


def read_indoor(path: str) -> Tuple[bool, ...]:
    """Read ``IO_places365.txt``: ``/a/airfield 2`` with 1 indoor, 2 outdoor, in category order."""
    with open(path) as f:
        return tuple(line.split()[1] == '1' for line in f if line.strip())


CATEGORY_PATHS, CLASSES = read_categories(osp.join(_HERE, 'categories_places365.txt'))
INDOOR = read_indoor(osp.join(_HERE, 'IO_places365.txt'))


@DATASETS.register_module()
class Places365(ImageListMixin, NamedImageErrorsMixin, BaseDataset):
    """Places365 in its official layout (Zhou et al., TPAMI 2018).

    ``data_root`` holds ``categories_places365.txt``, the file lists ``places365_train_standard.txt``
    (lines ``/a/airfield/00000001.jpg 0``), ``places365_train_challenge.txt`` and
    ``places365_val.txt`` (lines ``Places365_val_00000001.jpg 165``), and the images under
    ``data_256/`` (or ``data_large/``) and ``val_256/`` (or ``val_large/``). The metainfo holds the
    365 class names in the official order and, in ``indoor``, the official indoor/outdoor flag of
    each class. Errors in the lists, and images that are missing or do not decode, are reported with
    the list file and line. The list is held in columns (:class:`ImageList`): Places365-Challenge's
    8M lines cost a fraction of the time and memory of a list of dicts.

    Args:
        data_root: The dataset folder.
        split: ``'train'`` (Places365-Standard), ``'train_challenge'`` (Places365-Challenge, 8M
            images) or ``'val'``.
        resolution: ``'256'`` (the 256x256 release) or ``'large'`` (the high-resolution release).
        **kwargs: Arguments of mmpretrain's ``BaseDataset`` (``pipeline``, ``test_mode``...).
    """

    METAINFO = dict(classes=CLASSES, indoor=INDOOR)

    def __init__(self, data_root: str, split: str = 'train', resolution: str = '256', **kwargs) -> None:
        check_choice('split', split, SPLITS)
        check_choice('resolution', resolution, RESOLUTIONS)
        if not osp.isdir(data_root):
            raise MissingInputError(f'Places365 data_root {data_root} is not a directory')
        ann_file, image_dir = SPLITS[split]
        self.split = split
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=image_dir.format(resolution=resolution),
            **kwargs)

    def load_image_list(self) -> ImageList:
        categories = osp.join(self.data_root, 'categories_places365.txt')
        if osp.isfile(categories) and read_categories(categories)[0] != CATEGORY_PATHS:
            raise InputError(f'{categories} differs from the official Places365 category list')
        if not osp.isfile(self.ann_file):
            raise MissingInputError(f'Places365 {self.split} list {self.ann_file} does not exist')
        parse = partial(parse_list_line, source=self.ann_file, num_classes=len(CLASSES))
        return read_image_list(self.ann_file, len(CLASSES), parse)

    def image_path(self, listed: str) -> str:
        return osp.join(self.img_prefix, listed.lstrip('/'))  # training lists: '/a/airfield/00000001.jpg'
