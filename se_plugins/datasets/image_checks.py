"""Name the list entry behind an image that is missing or cannot be decoded; optionally skip a few."""
import os
import os.path as osp
import tempfile
import weakref
from typing import List, Optional

import mmcv
from mmengine.fileio import get
from mmengine.logging import print_log

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
    the annotation entry and the image instead of the pipeline's own error; or, with
    ``max_bad_images=N``, skip up to N such images.

    Images are checked only when loading an item fails, so a dataset of millions of images costs no
    file-system calls up front. Subclasses say where an item comes from in :meth:`entry_of`.

    With ``max_bad_images=N`` (default 0: the first bad image stops the run), a missing or
    undecodable image is logged with its entry and replaced by the next sample; the distinct bad
    images met are counted across DataLoader workers (in a file they all append to), and the
    ``N + 1``-th stops the run with the list of all of them. :meth:`bad_images` returns them, and
    ``se_plugins.BadImagesHook`` reports the count after every epoch.

    Args:
        max_bad_images: How many distinct bad images to skip before stopping.
        **kwargs: The dataset's own arguments.
    """

    def __init__(self, *args, max_bad_images: int = 0, **kwargs) -> None:
        if not isinstance(max_bad_images, int) or isinstance(max_bad_images, bool) or max_bad_images < 0:
            raise InputError(f'max_bad_images={max_bad_images!r} must be an integer >= 0')
        self.max_bad_images = max_bad_images
        self._bad_images_file = None
        if max_bad_images:  # created before DataLoader workers start, so that they all share it
            fd, self._bad_images_file = tempfile.mkstemp(prefix='se_plugins_bad_images_', suffix='.txt')
            os.close(fd)
            weakref.finalize(self, _remove, self._bad_images_file)
        super().__init__(*args, **kwargs)

    def entry_of(self, data_info: dict) -> str:
        """Where ``data_info`` is listed, e.g. ``places365_val.txt:4``."""
        raise NotImplementedError

    def bad_images(self) -> List[str]:
        """The distinct bad images skipped so far, by every process, in the order they were met."""
        if not self._bad_images_file or not osp.exists(self._bad_images_file):
            return []
        with open(self._bad_images_file) as f:
            return list(dict.fromkeys(line.rstrip('\n') for line in f if line.strip()))

    def prepare_data(self, idx: int):
        try:
            return super().prepare_data(idx)
        except Exception as error:
            data_info = self.get_data_info(idx)
            problem = image_problem(data_info['img_path'])
            if problem is None:
                raise
            message = f'{self.entry_of(data_info)}: {problem}'
            if not self.max_bad_images:
                error_type = MissingInputError if 'does not exist' in problem else InputError
                raise error_type(message) from error
            with open(self._bad_images_file, 'a') as f:  # one short append: whole lines from every worker
                f.write(message + '\n')
            met = self.bad_images()
            if len(met) > self.max_bad_images:
                raise InputError(f'{len(met)} bad images, more than max_bad_images={self.max_bad_images}: '
                                 + '; '.join(met)) from error
            print_log(f'skipped a bad image ({len(met)} of at most {self.max_bad_images}): {message}',
                      logger='current', level=30)
            return self.prepare_data((idx + 1) % len(self))


def _remove(path: str) -> None:
    if osp.exists(path):
        os.remove(path)
