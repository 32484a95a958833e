import json
import os.path as osp
from typing import List

from mmdet.datasets import CocoDataset as MMDetCocoDataset

from se_plugins.registry import DATASETS
from se_plugins.utils import InputError, MissingInputError

from .image_checks import NamedImageErrorsMixin


def _is_local(path: str) -> bool:
    return '://' not in path


@DATASETS.register_module()
class CocoDataset(NamedImageErrorsMixin, MMDetCocoDataset):
    """mmdet's ``CocoDataset``, with every input error reported as one message naming the file.

    mmdet's own errors for these inputs are a ``JSONDecodeError`` without the file name, a
    ``KeyError``, or, when no class of the config is a category of the file, ``need at least one
    array to concatenate``. Here each is an :class:`~se_plugins.utils.InputError`:

    - a missing ``data_root`` or annotation file;
    - an annotation file that is not JSON (with the line and column), or lacks a key;
    - classes of the config (``metainfo``) that are not categories of the file, listed with the
      file's categories: mmdet silently drops them and shifts every following label;
    - no image left to train or test on;
    - an image that is missing or does not decode, named with its image id (checked only when an
      image fails to load).

    Args:
        **kwargs: The arguments of mmdet's ``CocoDataset``.
    """

    def load_data_list(self) -> List[dict]:
        if self.data_root and _is_local(self.data_root) and not osp.isdir(self.data_root):
            raise MissingInputError(f'COCO data_root {self.data_root} is not a directory')
        if _is_local(self.ann_file) and not osp.isfile(self.ann_file):
            raise MissingInputError(f'COCO annotation file {self.ann_file} does not exist')
        try:
            data_list = super().load_data_list()
        except json.JSONDecodeError as error:
            raise InputError(f'{self.ann_file}: not valid JSON: {error.msg} (line {error.lineno}, '
                             f'column {error.colno})') from None
        except KeyError as error:
            raise InputError(f'{self.ann_file}: a COCO annotation file needs the key {error}; '
                             'see https://cocodataset.org/#format-data') from None
        except AssertionError as error:  # pycocotools: the top level is not a JSON object
            raise InputError(f'{self.ann_file}: {error}') from None
        classes = tuple(self.metainfo['classes'])
        if len(self.cat_ids) != len(classes):
            categories = self._category_names()
            missing = [name for name in classes if name not in categories]
            raise InputError(f'{self.ann_file}: classes {missing} of the config are not categories of '
                             f'this file; its categories are {categories}')
        return data_list

    def _category_names(self) -> List[str]:
        with open(self.ann_file) as f:  # read again only to write the error message
            return [category['name'] for category in json.load(f).get('categories', [])]

    def filter_data(self) -> List[dict]:
        data_list = super().filter_data()
        if not data_list:
            what = 'with an annotation of the config\'s classes' if self.filter_cfg else 'listed'
            raise InputError(f'{self.ann_file}: no image {what} (classes: {list(self.metainfo["classes"])})')
        return data_list

    def entry_of(self, data_info: dict) -> str:
        return f'{self.ann_file}: image id {data_info["img_id"]}'
