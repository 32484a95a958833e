"""Name the list entry behind an image that is missing, cannot be decoded or is not an image's size; optionally
skip a few. For our datasets (:class:`NamedImageErrorsMixin`) and any other a config names (:class:`GuardedImages`,
which the tools' Runner puts around every dataloader's dataset)."""
import os
import os.path as osp
import tempfile
import weakref
from typing import Callable, List, Optional

import mmcv
from mmengine.fileio import get
from mmengine.logging import print_log
from torch.utils.data import Dataset

from se_plugins.utils import InputError, MissingInputError, StopRun

MIN_IMAGE_SIDE = 2  # pixels: an "image" one pixel wide or high is a thumbnail placeholder, a tracking pixel, ...


def image_problem(path: str) -> Optional[str]:
    """What is wrong with the image file ``path``, or ``None`` if it reads, decodes and has an image's size."""
    if '://' not in path and not osp.isfile(path):
        return f'image {path} does not exist'
    try:
        image = mmcv.imfrombytes(get(path))
    except Exception as error:  # any decoder failure is the file's fault here
        return f'image {path} cannot be decoded ({" ".join(str(error).split())})'  # OpenCV's spans lines
    if image is None:
        return f'image {path} cannot be decoded as an image'
    return too_small(path, image.shape[:2])


def too_small(path: str, shape) -> Optional[str]:
    """``image ... is W x H pixels`` if an image of ``shape`` (height, width) is too small to be one."""
    if shape is not None and len(shape) >= 2 and min(shape[:2]) < MIN_IMAGE_SIDE:
        return f'image {path} is {shape[1]} x {shape[0]} pixels, too small to be an image'
    return None


class BadImageBudget:
    """How many distinct bad images a dataset may skip, and those met so far by every process: the DataLoader
    workers append to one file, made before they start.

    Args:
        max_bad_images: How many to skip before the next stops the run (0: the first does).
    """

    def __init__(self, max_bad_images: int = 0) -> None:
        if not isinstance(max_bad_images, int) or isinstance(max_bad_images, bool) or max_bad_images < 0:
            raise InputError(f'max_bad_images={max_bad_images!r} must be an integer >= 0')
        self.max_bad_images = max_bad_images
        self.file = None
        if max_bad_images:
            fd, self.file = tempfile.mkstemp(prefix='se_plugins_bad_images_', suffix='.txt')
            os.close(fd)
            weakref.finalize(self, _remove, self.file)

    def met(self) -> List[str]:
        """The distinct bad images skipped so far, in the order they were met."""
        if not self.file or not osp.exists(self.file):
            return []
        with open(self.file) as f:
            return list(dict.fromkeys(line.rstrip('\n') for line in f if line.strip()))

    def skip(self, message: str, problem: str, error: Optional[BaseException], hint: str = '') -> None:
        """Count the bad image ``message`` describes, or stop: with no budget, one error naming it (and ``hint``);
        past the budget, one error listing every one met."""
        if not self.max_bad_images:
            error_type = MissingInputError if 'does not exist' in problem else InputError
            raise error_type(message + hint) from error
        with open(self.file, 'a') as f:  # one short append: whole lines from every worker
            f.write(message + '\n')
        met = self.met()
        if len(met) > self.max_bad_images:
            raise InputError(f'{len(met)} bad images, more than max_bad_images={self.max_bad_images}: '
                             + '; '.join(met)) from error
        print_log(f'skipped a bad image ({len(met)} of at most {self.max_bad_images}): {message}',
                  logger='current', level=30)


def load_or_skip(load: Callable[[int], object], idx: int, length: int, describe: Callable[[int], tuple],
                 budget: BadImageBudget, hint: str = ''):
    """``load(idx)``; if it fails because of its image (or loads one too small to be an image), name the image with
    ``describe(idx)`` (its entry and path) or, within ``budget``, skip to the next index."""
    for _ in range(length):
        entry, path = describe(idx)
        try:
            item = load(idx)
        except StopRun:
            raise
        except Exception as error:
            problem = image_problem(path) if path else None
            if problem is None:
                raise
            budget.skip(f'{entry}: {problem}', problem, error, hint)
        else:
            samples = item.get('data_samples') if isinstance(item, dict) else None
            problem = too_small(path, getattr(samples, 'metainfo', {}).get('ori_shape')) if path else None
            if problem is None:
                return item
            budget.skip(f'{entry}: {problem}', problem, None, hint)
        idx = (idx + 1) % length
    raise InputError(f'every image of the dataset is bad: {"; ".join(budget.met()[:3])} ...')


class NamedImageErrorsMixin:
    """For datasets: when an item fails to load because of its image, raise an InputError naming
    the annotation entry and the image instead of the pipeline's own error; or, with
    ``max_bad_images=N``, skip up to N such images.

    Images are checked only when loading an item fails, so a dataset of millions of images costs no
    file-system calls up front. Subclasses say where an item comes from in :meth:`entry_of`.

    With ``max_bad_images=N`` (default 0: the first bad image stops the run), a missing or
    undecodable image, or one a pixel wide, is logged with its entry and replaced by the next sample; the distinct
    bad images met are counted across DataLoader workers (:class:`BadImageBudget`), and the ``N + 1``-th stops the
    run with the list of all of them. :meth:`bad_images` returns them, and ``se_plugins.BadImagesHook`` reports the
    count after every epoch.

    Args:
        max_bad_images: How many distinct bad images to skip before stopping.
        **kwargs: The dataset's own arguments.
    """

    def __init__(self, *args, max_bad_images: int = 0, **kwargs) -> None:
        self._budget = BadImageBudget(max_bad_images)  # made before DataLoader workers start: they all share it
        super().__init__(*args, **kwargs)

    @property
    def max_bad_images(self) -> int:
        return self._budget.max_bad_images

    def entry_of(self, data_info: dict) -> str:
        """Where ``data_info`` is listed, e.g. ``places365_val.txt:4``."""
        raise NotImplementedError

    def bad_images(self) -> List[str]:
        """The distinct bad images skipped so far, by every process, in the order they were met."""
        return self._budget.met()

    def prepare_data(self, idx: int):
        def describe(index: int) -> tuple:
            data_info = self.get_data_info(index)
            return self.entry_of(data_info), data_info.get('img_path')
        return load_or_skip(super().prepare_data, idx, len(self), describe, self._budget)


class GuardedImages(Dataset):
    """Any dataset whose bad images are named, or within ``max_bad_images`` skipped and counted, as our own
    datasets do theirs (:class:`NamedImageErrorsMixin`): mmpretrain's ``CustomDataset`` and ``ImageNet``, mmdet's
    ``CocoDataset``, ... The tools' Runner puts it around every dataloader's dataset that is not ours, with the
    ``max_bad_images`` of its config. Other attributes are the dataset's (``metainfo``, ...).

    Args:
        dataset: An mmengine ``BaseDataset`` (it has ``get_data_info``).
        max_bad_images: How many distinct bad images to skip before stopping.
    """

    def __init__(self, dataset, max_bad_images: int = 0) -> None:
        self.dataset = dataset
        self._budget = BadImageBudget(max_bad_images)
        kind = type(dataset)
        root = getattr(dataset, 'ann_file', '') or (getattr(dataset, 'data_prefix', None) or {}).get('img_path', '')
        self.name = f'{kind.__module__.split(".")[0]}.{kind.__name__}' + (f' {root}' if root else '')

    @property
    def max_bad_images(self) -> int:
        return self._budget.max_bad_images

    def bad_images(self) -> List[str]:
        """The distinct bad images skipped so far, by every process, in the order they were met."""
        return self._budget.met()

    def _describe(self, idx: int) -> tuple:
        data_info = self.dataset.get_data_info(idx)
        where = f'image id {data_info["img_id"]}' if 'img_id' in data_info else f'sample {idx}'
        return f'{self.name}: {where}', data_info.get('img_path')

    def __getitem__(self, idx: int):
        hint = '' if self.max_bad_images else ' (to skip up to N such images, set max_bad_images=N in its dataset)'
        return load_or_skip(self.dataset.__getitem__, idx, len(self.dataset), self._describe, self._budget, hint)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str):
        if name in ('dataset', '_budget'):  # not set yet (unpickling in a spawned worker)
            raise AttributeError(name)
        return getattr(self.dataset, name)


def _remove(path: str) -> None:
    if osp.exists(path):
        os.remove(path)
