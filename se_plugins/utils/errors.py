"""Why a run stops early (bad input, a full disk, a preemption), and how tools report it.

Every check of user input raises an :class:`InputError` whose message names the file, key or line.
All of these are :class:`StopRun`: the command-line tools end such a run, and a training stopped by
a NaN or infinite loss (``FloatingPointError``), with one line, ``error: <message>`` (a preemption:
``stopped: <message>``), and the error's exit status; anything else is a bug and keeps its
traceback.
"""
import gc
import re
import sys
from typing import Callable, NoReturn, Optional


class StopRun(Exception):
    """A run ends with one line for the user, this prefix and this exit status, and no traceback."""

    prefix = 'error: '
    exit_code = 1


class InputError(StopRun, ValueError):
    """Bad input: the message names the file, the config key or the line at fault."""


class MissingInputError(InputError, FileNotFoundError):
    """A file or folder the input names does not exist."""


class CheckpointWriteError(StopRun, OSError):
    """A checkpoint could not be written (full disk, quota, I/O error); the message names the file."""


class Preempted(StopRun):
    """Training stopped on a signal after writing a checkpoint to resume from.

    Exit status 75 (``EX_TEMPFAIL``: try again), which ``tools/slurm_train.sh`` requeues; 130 for
    Ctrl-C (SIGINT), as shells report it.
    """

    prefix = 'stopped: '

    def __init__(self, message: str, interrupted: bool = False) -> None:
        super().__init__(message)
        self.exit_code = 130 if interrupted else 75


# mmengine's registry re-raises what a constructor raised with this prefix.
_REGISTRY_PREFIX = re.compile(r'^(class `[^`]+` in \S+\.py: )+')


def input_error_message(error: BaseException) -> str:
    """The message of an :class:`InputError` as its check wrote it.

    Undoes two wrappings: a DataLoader worker's exception comes back as ``Caught X in DataLoader
    worker process 0. Original Traceback ...`` ending in ``module.X: <message>``, and mmengine's
    registry prefixes ``class `X` in module.py: ``.
    """
    message = str(error).strip()
    if 'Original Traceback' in message:
        last = message.splitlines()[-1]
        name = f'{type(error).__name__}: '
        message = last.split(name, 1)[1] if name in last else last
    return _REGISTRY_PREFIX.sub('', message)


def run_cli(main: Callable[[], object], on_exit: Optional[Callable[[int], None]] = None) -> NoReturn:
    """Run a tool's ``main()`` and exit: 0 if it returns; a :class:`StopRun`'s status with its one line
    (``error: <message>``), 1 with ``error: <message>`` for a ``FloatingPointError`` (a diverged
    training), or 130 with ``stopped: interrupted (Ctrl-C)`` for a ``KeyboardInterrupt``.

    First, what the tool's imports made (torch, OpenMMLab: hundreds of thousands of objects that live as long as
    the process) is moved out of the cyclic garbage collector's sight (``gc.freeze``, after a collection, so
    that no garbage is kept): each of the collections that building and training trigger would traverse it
    again, a fifth of a short run's CPU time (docs/development.md); and DataLoader workers forked later share
    those pages, which a collection would write.

    Args:
        main: The tool's main function.
        on_exit: Called with the exit status before the process exits.
    """
    gc.collect()
    gc.freeze()
    code = 0
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C twice, or before training listens for it
        print('stopped: interrupted (Ctrl-C)', file=sys.stderr)
        code = 130
    except (StopRun, FloatingPointError) as error:
        prefix = error.prefix if isinstance(error, StopRun) else 'error: '
        print(f'{prefix}{input_error_message(error)}', file=sys.stderr)
        code = error.exit_code if isinstance(error, StopRun) else 1
    if on_exit is not None:
        on_exit(code)
    sys.exit(code)
