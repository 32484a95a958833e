import os
import tempfile
from typing import Any, BinaryIO, Callable

import torch


def fsync_path(path: str) -> None:
    """fsync a file or a directory by path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(tmp: str, path: str) -> None:
    """Rename the complete file ``tmp`` over ``path`` so that the result survives a crash.

    ``tmp`` is fsynced before the rename (atomic on POSIX, ``tmp`` must be in ``path``'s
    directory) and the directory after it.
    """
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_path(os.path.dirname(os.path.abspath(path)))


def atomic_write(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` through ``write(file)`` so that it appears whole or not at all.

    ``write`` fills a temporary file in the same directory, which then replaces ``path``
    (:func:`replace_durably`). If anything fails, the temporary file is removed and ``path`` is
    untouched.

    Args:
        path: The destination file.
        write: Writes the content to the binary file object it is given.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.', suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            write(f)
        replace_durably(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` that never leaves a partial file at ``path`` (see :func:`atomic_write`).

    Args:
        obj: What to save.
        path: The destination file.
    """
    atomic_write(path, lambda f: torch.save(obj, f))
