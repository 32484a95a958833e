"""Image lists (``<image path> <label>`` per line) held in columns, for datasets of millions of images.

mmengine's ``BaseDataset`` turns every line into a dict, then pickles every dict: for the 8,026,628
lines of Places365-Challenge that is over half a minute and several GB per process, paid by every
rank on every start. :class:`ImageList` keeps the file's bytes as they are, with the start and end
of each path, each label and each source line in NumPy arrays (about 15 bytes a line beside the
file itself), parsed by vectorised passes over the bytes. DataLoader workers share these arrays
copy-on-write: reading them writes to no page, so no worker copies them. :class:`ImageListMixin`
makes a dataset serve its samples from an :class:`ImageList`, building each sample's dict when it
is asked for.
"""
import os.path as osp
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from se_plugins.utils import InputError, MissingInputError

_NEWLINE, _SPACE = ord('\n'), ord(' ')
_CHUNK_BYTES = 1 << 22  # read and parse 4 MB at a time: the temporaries stay small
_MAX_LABEL_DIGITS = 9


class ImageList:
    """The entries of an image list: their paths (one bytes buffer), labels and source lines.

    Args:
        buffer: The bytes the paths are in.
        starts: Where each path starts in ``buffer``.
        ends: Where each path ends (exclusive).
        labels: The label of each entry.
        lines: The 1-based line of the list each entry comes from; ``None``: entry ``i`` is line
            ``i + 1`` (a list without blank lines); 0: an entry found by scanning a folder.
        source: The list file (or the folder scanned).
    """

    def __init__(self, buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray, labels: np.ndarray,
                 lines: Optional[np.ndarray], source: str) -> None:
        self.buffer, self.starts, self.ends, self.labels, self.lines = buffer, starts, ends, labels, lines
        self.source = source

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, index: int) -> str:
        """The path of entry ``index`` as the list writes it."""
        return self.buffer[self.starts[index]:self.ends[index]].tobytes().decode()

    def line(self, index: int) -> int:
        """The line of the list entry ``index`` comes from (0: found by scanning a folder)."""
        return int(self.lines[index]) if self.lines is not None else range(1, len(self) + 1)[index]

    def subset(self, indices: Union[np.ndarray, slice]) -> 'ImageList':
        """The entries at ``indices`` (a slice keeps views of the columns); the buffer is shared."""
        lines = self.lines if self.lines is not None else np.arange(1, len(self) + 1, dtype=np.uint32)
        return ImageList(self.buffer, self.starts[indices], self.ends[indices], self.labels[indices],
                         lines[indices], self.source)

    @classmethod
    def from_samples(cls, samples: Sequence[Tuple[str, int]], source: str) -> 'ImageList':
        """An image list of ``(path, label)`` pairs found by scanning ``source``, a folder (line 0)."""
        encoded = [path.encode() for path, _ in samples]
        offsets = np.concatenate([[0], np.cumsum([len(path) for path in encoded])]).astype(np.int64)
        buffer = np.frombuffer(b''.join(encoded), dtype=np.uint8)
        labels = np.array([label for _, label in samples], dtype=np.int32)
        return cls(buffer, offsets[:-1], offsets[1:], labels, np.zeros(len(samples), dtype=np.uint32), source)


def _per_line_count(positions: np.ndarray, line_starts: np.ndarray, line_ends: np.ndarray) -> np.ndarray:
    """How many of the sorted ``positions`` fall in each line ``[start, end)``."""
    return np.searchsorted(positions, line_ends) - np.searchsorted(positions, line_starts)


class _ListReader:
    """Parses the chunks of a list, each ending at a newline, into preallocated columns.

    The columns are allocated for the most entries a file of this size can hold; only the pages
    written become resident, so memory follows what the list holds: its paths, one offset and one
    label per entry (and line numbers only once a line has been skipped).
    """

    def __init__(self, size: int, num_classes: int, parse_line: Callable[[str, int], Optional[Tuple[str, int]]]):
        capacity = size // 2 + 2  # '<path> <label>' is at least 3 bytes and a newline
        self.paths = np.empty(size, dtype=np.uint8)
        self.offsets = np.empty(capacity + 1, dtype=np.uint32 if size < 2**32 else np.int64)
        self.offsets[0] = 0
        self.labels = np.empty(capacity, dtype=np.int16 if num_classes <= 2**15 else np.int32)
        self.lines: Optional[np.ndarray] = None
        self.num_classes, self.parse_line = num_classes, parse_line
        self.count = self.line_count = 0

    def add(self, chunk: np.ndarray) -> None:
        ends = np.flatnonzero(chunk == _NEWLINE)
        starts = np.concatenate([[0], ends[:-1] + 1])
        spaces = np.flatnonzero(chunk == _SPACE)
        separator = spaces[np.maximum(np.searchsorted(spaces, ends) - 1, 0)] if len(spaces) else ends
        label_length = ends - separator - 1
        regular = ((_per_line_count(spaces, starts, ends) == 1) & (separator > starts)
                   & (label_length >= 1) & (label_length <= _MAX_LABEL_DIGITS))
        other_whitespace = np.flatnonzero((chunk >= 9) & (chunk <= 13) & (chunk != _NEWLINE))  # \t \v \f \r
        if len(other_whitespace):
            regular &= _per_line_count(other_whitespace, starts, ends) == 0
        labels = np.zeros(len(ends), dtype=np.int64)
        for digit in range(_MAX_LABEL_DIGITS):
            has_digit = regular & (label_length > digit)
            if not has_digit.any():
                break
            value = chunk[np.where(has_digit, separator + 1 + digit, 0)].astype(np.int64) - ord('0')
            regular &= ~has_digit | ((value >= 0) & (value <= 9))
            labels = np.where(has_digit & regular, labels * 10 + value, labels)
        regular &= labels < self.num_classes
        path_ends, keep = separator, regular
        for index in np.flatnonzero(~regular):  # in file order: the first bad line raises first
            line = chunk[starts[index]:ends[index]].tobytes()
            parsed = self.parse_line(line.decode(errors='replace'), self.line_count + int(index) + 1)
            if parsed is not None:  # the path: the line's first word
                starts[index] += len(line) - len(line.lstrip())
                path_ends[index] = starts[index] + len(line.split()[0])
                labels[index], keep[index] = parsed[1], True
        self._append(chunk, starts[keep], path_ends[keep], labels[keep], np.flatnonzero(keep), len(ends))
        self.line_count += len(ends)

    def _append(self, chunk: np.ndarray, starts: np.ndarray, ends: np.ndarray, labels: np.ndarray,
                kept: np.ndarray, lines_in_chunk: int) -> None:
        inside = np.zeros(len(chunk) + 1, dtype=np.int8)  # +1 at each path's start, -1 at its end
        inside[starts], inside[ends] = 1, -1  # distinct positions: a path ends before the next starts
        path_bytes = chunk[np.cumsum(inside[:-1], dtype=np.int8) > 0]
        first, count = self.count, len(labels)
        written = int(self.offsets[first])
        self.paths[written:written + len(path_bytes)] = path_bytes
        self.offsets[first + 1:first + count + 1] = written + np.cumsum(ends - starts)
        self.labels[first:first + count] = labels
        if self.lines is None and len(kept) < lines_in_chunk:  # a line was skipped
            self.lines = np.empty(len(self.labels), dtype=np.uint32)
            self.lines[:first] = np.arange(1, first + 1)
        if self.lines is not None:
            self.lines[first:first + count] = self.line_count + kept + 1
        self.count += count

    def result(self, source: str) -> ImageList:
        count = self.count
        lines = None if self.lines is None else self.lines[:count]
        return ImageList(self.paths[:int(self.offsets[count])], self.offsets[:count], self.offsets[1:count + 1],
                         self.labels[:count], lines, source)


def read_image_list(path: str, num_classes: int,
                    parse_line: Callable[[str, int], Optional[Tuple[str, int]]]) -> ImageList:
    """Read an image list: lines ``<path> <label>``, blank lines skipped.

    Lines made of one path, one space and a label below ``num_classes`` are taken by vectorised
    passes; every other line goes to ``parse_line``, the dataset's exact per-line rule, which skips it
    (``None``), returns its path and label (tabs, CRLF endings, extra spaces), or raises the error that
    names the file and line. So the result and the errors are those of reading line by line. The
    file is read 4 MB at a time, and only the paths' bytes are kept.

    Args:
        path: The list file.
        num_classes: Labels must lie in ``[0, num_classes)``.
        parse_line: ``parse_line(text, lineno)`` for a line the fast passes do not take.
    """
    if not osp.isfile(path):
        raise MissingInputError(f'image list {path} does not exist')
    reader = _ListReader(osp.getsize(path), num_classes, parse_line)
    with open(path, 'rb') as f:
        rest = b''
        while True:
            block = f.read(_CHUNK_BYTES)
            data = rest + block
            if not block:  # the end: a last line without a newline gets one
                if data:
                    reader.add(np.frombuffer(data + b'\n', dtype=np.uint8))
                break
            cut = data.rfind(b'\n') + 1
            if cut:
                reader.add(np.frombuffer(data, dtype=np.uint8, count=cut))
            rest = data[cut:]
    return reader.result(path)


def parse_list_line(text: str, lineno: int, source: str, num_classes: int) -> Optional[Tuple[str, int]]:
    """The per-line rule of our image lists: ``<path> <label>``, nothing else; blank lines skipped.

    Raises:
        InputError: naming ``source:lineno`` for a malformed line or a label out of range.
    """
    if not text.strip():
        return None
    parts = text.split()
    if len(parts) != 2:
        raise InputError(f'{source}:{lineno}: expected "<image path> <label>", got {text.rstrip()!r}')
    path, label = parts
    if not label.isdigit() or int(label) >= num_classes:
        raise InputError(f'{source}:{lineno}: label {label!r} is not a class index in [0, {num_classes})')
    return path, int(label)


class ImageListMixin:
    """For mmengine ``BaseDataset`` subclasses whose annotations are one image list: samples are served
    from an :class:`ImageList` instead of a list of dicts.

    Subclasses implement :meth:`load_image_list` and may override :meth:`image_path`. The dataset's
    ``indices``, ``get_subset``/``get_subset_``, ``test_mode``, ``lazy_init`` and metainfo work as in
    ``BaseDataset``; ``serialize_data`` is moot: the columns are always compact, and shared with
    DataLoader workers without copies. Each sample's dict holds ``img_path``, ``gt_label``,
    ``list_line`` (the source line) and ``sample_idx``.
    """

    image_list: ImageList

    def load_image_list(self) -> ImageList:
        """Read the dataset's image list."""
        raise NotImplementedError

    def image_path(self, listed: str) -> str:
        """The file of an image as the list names it."""
        return osp.join(self.img_prefix, listed)

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        self.image_list = self.load_image_list()
        if not len(self.image_list):
            raise InputError(f'{self.image_list.source} lists no images')
        if self._indices is not None:
            self.image_list = self.image_list.subset(_as_indices(self._indices, len(self.image_list)))
        self._fully_initialized = True

    def load_data_list(self) -> List[dict]:
        """Every sample as a dict, the way ``BaseDataset`` holds them (slow for large lists)."""
        self.full_init()
        return [self.get_data_info(index) for index in range(len(self))]

    def get_data_info(self, idx: int) -> dict:
        self.full_init()
        images = self.image_list
        return dict(img_path=self.image_path(images.path(idx)), gt_label=int(images.labels[idx]),
                    list_line=images.line(idx), sample_idx=idx if idx >= 0 else len(self) + idx)

    def __len__(self) -> int:
        self.full_init()
        return len(self.image_list)

    def get_gt_labels(self) -> np.ndarray:
        self.full_init()
        return self.image_list.labels.astype(np.int64)

    def get_cat_ids(self, idx: int) -> List[int]:
        self.full_init()
        return [int(self.image_list.labels[idx])]

    def entry_of(self, data_info: dict) -> str:
        line = data_info['list_line']  # 0: a sample found by scanning folders
        return f'{self.image_list.source}:{line}' if line else self.image_list.source

    def get_subset_(self, indices: Union[Sequence[int], int]) -> None:
        self.full_init()
        self.image_list = self.image_list.subset(_as_indices(indices, len(self.image_list)))

    def get_subset(self, indices: Union[Sequence[int], int]) -> 'ImageListMixin':
        self.full_init()
        subset = self._copy_without_annotation()
        subset.image_list = self.image_list.subset(_as_indices(indices, len(self.image_list)))
        return subset

    def _copy_without_annotation(self, memo=None) -> 'ImageListMixin':
        images = self.__dict__.pop('image_list', None)
        try:
            copied = super()._copy_without_annotation({} if memo is None else memo)
        finally:
            if images is not None:
                self.image_list = images
        return copied


def _as_indices(indices: Union[Sequence[int], int], length: int) -> Union[slice, np.ndarray]:
    """mmengine's ``indices``: an int keeps the first (or, negative, the last) ``n`` samples."""
    if isinstance(indices, int):
        return slice(0, indices) if indices >= 0 else slice(length + indices, length)
    return np.asarray(indices, dtype=np.int64)
