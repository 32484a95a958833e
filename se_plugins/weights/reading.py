"""Reading checkpoint files without running what they hold.

A ``.pth`` file is a pickle, and unpickling calls whatever the pickle names: a "pretrained model" built with an
object's ``__reduce__`` runs ``os.system(...)`` as it loads. Every checkpoint se_plugins reads, and every local
file mmengine reads in a process that imported se_plugins (``load_from``, ``--resume``, ``init_cfg``
``Pretrained``, an inferencer's weights: :func:`register_safe_local_loading` takes over mmengine's loader of
local paths), is read with ``torch.load(weights_only=True)``: tensors, containers, numbers, strings, and the few
types on :func:`allowed_globals` (mmengine's own list: its ``HistoryBuffer`` and NumPy's arrays, dtypes and
scalars, which the message hub and the random states hold). A file that holds anything else is not loaded:
:class:`UnsafeCheckpointError` names the file and the object it would have called. A file one trusts is named in
the environment variable ``SE_PLUGINS_TRUSTED_CHECKPOINTS`` (paths separated by ``:``) and loads whole.

Safetensors files (``.safetensors``, or any file that starts as one) hold tensors only and load as a state dict.
"""
import json
import os
import os.path as osp
import pickle
import re
import struct
import zipfile
from typing import Any, Callable, List, Union

import torch
from mmengine.runner import CheckpointLoader
from mmengine.runner.checkpoint import get_torch_safe_globals

from se_plugins.utils import InputError, MissingInputError

TRUST_VARIABLE = 'SE_PLUGINS_TRUSTED_CHECKPOINTS'
MapLocation = Union[str, torch.device, Callable, dict, None]


class UnsafeCheckpointError(InputError):
    """A checkpoint file holds an object that loading it would call: it is not loaded."""


def allowed_globals() -> List[Any]:
    """What a checkpoint may hold beyond tensors, containers, numbers and strings: mmengine's list (the message
    hub's ``HistoryBuffer``, NumPy arrays, dtypes and scalars)."""
    return list(get_torch_safe_globals())


def trusted_checkpoints() -> List[str]:
    """The files named in ``SE_PLUGINS_TRUSTED_CHECKPOINTS``, as real paths."""
    return [osp.realpath(path) for path in os.environ.get(TRUST_VARIABLE, '').split(os.pathsep) if path]


def is_safetensors(path: str) -> bool:
    """Whether ``path`` is a safetensors file: 8 bytes of header length, then the JSON header."""
    with open(path, 'rb') as f:
        start = f.read(9)
    if len(start) < 9 or start[8:9] != b'{':
        return False
    return 2 <= struct.unpack('<Q', start[:8])[0] <= osp.getsize(path) - 8


def is_torch_zip(path: str) -> bool:
    """Whether ``path`` is in ``torch.save``'s zip format (the only format that can be memory-mapped)."""
    return zipfile.is_zipfile(path)


def _called_object(error: Exception) -> str:
    """What torch's weights-only unpickler refused, from its message: ``posix.system``, ``builtins.eval`` (which
    torch names without its module)."""
    message = str(error)
    found = re.search(r'GLOBAL ([\w.]+)', message) or re.search(r'global[^\w]+([\w.]+)', message, re.I)
    if found:
        return found.group(1) if '.' in found.group(1) else f'builtins.{found.group(1)}'
    return next((line.strip() for line in message.splitlines() if line.strip()), type(error).__name__)


def read_checkpoint(path: str, map_location: MapLocation = 'cpu', mmap: bool = False) -> Any:
    """The contents of checkpoint file ``path``, read without calling anything it names (see the module).

    Args:
        path: A ``torch.save`` file (zip or legacy format) or a safetensors file.
        map_location: As ``torch.load``'s.
        mmap: Memory-map the tensors rather than read them (zip-format files; others are read).

    Raises:
        MissingInputError: There is no such file.
        UnsafeCheckpointError: The file holds an object that loading it would call.
    """
    if not osp.isfile(path):
        raise MissingInputError(f'checkpoint {path}: no such file')
    if is_safetensors(path):
        from safetensors.torch import load_file
        device = map_location if isinstance(map_location, (str, torch.device)) else 'cpu'
        return dict(state_dict=load_file(path, device=str(device)))
    mmap = mmap and is_torch_zip(path)
    if osp.realpath(path) in trusted_checkpoints():
        return torch.load(path, map_location=map_location, mmap=mmap, weights_only=False)
    try:
        with torch.serialization.safe_globals(allowed_globals()):
            return torch.load(path, map_location=map_location, mmap=mmap, weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(
            f'checkpoint {path} holds {_called_object(error)}, which loading it would call, so it was not loaded '
            f'(a checkpoint holds tensors, numbers, strings and containers); if you trust the file, name it in '
            f'{TRUST_VARIABLE}=path[:path...] (docs/reliability.md)') from None


def safetensors_problem(path: str) -> Union[str, None]:
    """Why the safetensors file ``path`` is incomplete, or None: its header must parse and its tensors' data must
    end where the file ends."""
    with open(path, 'rb') as f:
        length = struct.unpack('<Q', f.read(8))[0]
        try:
            header = json.loads(f.read(length))
        except ValueError:
            return 'a safetensors file whose header does not parse (truncated?)'
    ends = [entry['data_offsets'][1] for name, entry in header.items() if name != '__metadata__']
    if 8 + length + max(ends, default=0) != osp.getsize(path):
        return 'a safetensors file of another size than its header says (truncated?)'
    return None


def load_from_local(filename: str, map_location: MapLocation = None) -> Any:
    """mmengine's loader of local checkpoint paths, reading as :func:`read_checkpoint` does."""
    return read_checkpoint(osp.expanduser(filename), map_location)


def register_safe_local_loading() -> None:
    """Make mmengine read every local checkpoint path with :func:`load_from_local` (its checkpoint scheme for
    paths without a ``scheme://``)."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
