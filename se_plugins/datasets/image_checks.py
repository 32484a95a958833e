"""Name the list entry behind an image that is missing or cannot be decoded."""
import os.path as osp
from typing import Optional

import mmcv
from mmengine.fileio import get

from se_plugins.utils import InputError, MissingInputError


def image_problem(path: str) -> Optional[str]:
    """What is wrong with the image file ``path``, or ``None`` if it reads and decodes."""
    if '://' not in path and not osp.isfile(path):
        return f'image {path} does not exist'
    try:
        image = mmcv.imfrombytes(get(path))
    except Exception as error:  # any decoder failure is the file's fault here
        return f'image {path} cannot be decoded ({error})'
    return None if image is not None else f'image {path} cannot be decoded as an image'


class NamedImageErrorsMixin:
    """For datasets: when an item fails to load because of its image, raise an InputError naming
    the annotation entry and the image instead of the pipeline's own error.

    Images are checked only when loading an item fails, so a dataset of millions of images costs no
    file-system calls up front. Subclasses say where an item comes from in :meth:`entry_of`.
    """

    def entry_of(self, data_info: dict) -> str:
        """Where ``data_info`` is listed, e.g. ``places365_val.txt:4``."""
        raise NotImplementedError

    def prepare_data(self, idx: int):
        try:
            return super().prepare_data(idx)
        except Exception as error:
            data_info = self.get_data_info(idx)
            problem = image_problem(data_info['img_path'])
            if problem is None:
                raise
            error_type = MissingInputError if 'does not exist' in problem else InputError
            raise error_type(f'{self.entry_of(data_info)}: {problem}') from error
