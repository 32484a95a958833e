"""The checks of arguments that several parts share; each raises an :class:`~se_plugins.utils.InputError`."""
from typing import Collection, Sequence

from .errors import InputError


class ChoiceError(InputError, KeyError):
    """A value that is not one of the choices. Also a ``KeyError``, as mmpretrain's and mmdet's backbones
    raise for an unknown ``depth`` (code that catches that keeps working)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''  # KeyError's own __str__ would quote the message


def check_choice(name: str, value, choices: Collection) -> None:
    """Raise a :class:`ChoiceError` naming ``name`` and the valid ``choices`` if ``value`` is not one of them.

    Args:
        name: The argument as the user wrote it (``'depth of SEResNet'``, ``'split'``).
        value: Its value.
        choices: The valid values.
    """
    if value not in choices:
        raise ChoiceError(f'{name}={value!r} is not supported; choose one of {sorted(choices)}')


def check_positive_int(name: str, value) -> None:
    """Raise an :class:`InputError` unless ``value`` is an ``int`` above 0 (``True`` is not one)."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InputError(f'{name} must be a positive integer, got {value!r}')


def check_per_stage(name: str, values: Sequence, num_stages: int) -> tuple:
    """Return ``values`` as a tuple, or raise an :class:`InputError` unless it has one entry per stage."""
    values = tuple(values)
    if len(values) != num_stages:
        raise InputError(f'{name} needs one entry per stage ({num_stages}), got {values}')
    return values
