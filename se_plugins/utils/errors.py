"""Errors in what the user gave us (a file, a config key, a line of a list), and how tools report them.

Every check of user input raises an :class:`InputError` whose message names the file, key or line.
The command-line tools end such a run, and a training stopped by a NaN or infinite loss
(``FloatingPointError``), with one line, ``error: <message>``, and exit status 1; anything else
is a bug and keeps its traceback.
"""
import re
import sys
from typing import Callable, NoReturn, Optional


class InputError(ValueError):
    """Bad input: the message names the file, the config key or the line at fault."""


class MissingInputError(InputError, FileNotFoundError):
    """A file or folder the input names does not exist."""


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
    """Run a tool's ``main()`` and exit: 0 if it returns; 1 with ``error: <message>`` on an
    :class:`InputError` or a ``FloatingPointError`` (a diverged training).

    Args:
        main: The tool's main function.
        on_exit: Called with the exit status before the process exits.
    """
    code = 0
    try:
        main()
    except (InputError, FloatingPointError) as error:
        print(f'error: {input_error_message(error)}', file=sys.stderr)
        code = 1
    if on_exit is not None:
        on_exit(code)
    sys.exit(code)
