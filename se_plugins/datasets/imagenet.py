import os.path as osp
from functools import partial

from mmengine.fileio import join_path
from mmpretrain.datasets import ImageNet as MMPretrainImageNet

from se_plugins.registry import DATASETS
from se_plugins.utils import InputError, MissingInputError

from .image_checks import NamedImageErrorsMixin
from .image_list import ImageList, ImageListMixin, parse_list_line, read_image_list


@DATASETS.register_module()
class ImageNet(ImageListMixin, NamedImageErrorsMixin, MMPretrainImageNet):
    """mmpretrain's ``ImageNet``, with its list held in columns (:class:`ImageList`) and bad input named.

    The same layout and arguments as mmpretrain's: ``data_root`` with ``train/``, ``val/`` and, if
    present, the lists ``meta/train.txt`` and ``meta/val.txt`` (lines ``<image path> <label>``; without
    a list, the class folders are scanned). ImageNet-1k's 1,281,167-line training list costs a
    fraction of the time and memory of mmpretrain's list of dicts. A missing data root or list, a
    malformed line, a label out of range and a missing or undecodable image are reported with the
    file and line. Labelled splits only: for ``split='test'`` (no labels) use mmpretrain's ``ImageNet``.

    Args:
        data_root: The dataset folder.
        split: ``'train'`` or ``'val'``.
        ann_file: The list, relative to ``data_root`` (default: ``meta/<split>.txt`` if it exists).
        **kwargs: Arguments of mmpretrain's ``ImageNet`` (``data_prefix``, ``pipeline``, ``metainfo``...).
    """

    def __init__(self, data_root: str = '', split: str = '', ann_file: str = '', **kwargs) -> None:
        if split == 'test' or kwargs.get('with_label') is False:
            raise InputError("se_plugins.ImageNet reads labelled splits; for split='test' use mmpretrain's ImageNet")
        if data_root and not osp.isdir(data_root):
            raise MissingInputError(f'ImageNet data_root {data_root} is not a directory')
        if ann_file and not osp.isfile(join_path(data_root, ann_file)):
            raise MissingInputError(f'ImageNet list {join_path(data_root, ann_file)} does not exist')
        super().__init__(data_root=data_root, split=split, ann_file=ann_file, **kwargs)

    def load_image_list(self) -> ImageList:
        if not self.ann_file:  # no list: scan the class folders, as mmpretrain does
            if not osp.isdir(self.img_prefix):
                raise MissingInputError(f'ImageNet image folder {self.img_prefix} is not a directory')
            return ImageList.from_samples(self._find_samples(), source=self.img_prefix)
        num_classes = len(self.CLASSES)
        return read_image_list(self.ann_file, num_classes,
                               partial(parse_list_line, source=self.ann_file, num_classes=num_classes))
