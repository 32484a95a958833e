"""The checks of arguments that several parts share; each raises an :class:`~se_plugins.utils.InputError`."""
import inspect
import re
import typing
from collections import abc
from typing import Collection, Optional, Sequence

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


# The numbers a config gives by these argument names, wherever they appear (a dataloader, a loop, an
# optimizer, a head): what they must be. (kind, minimum): an int or a float, at least the minimum.
NUMBER_RANGES = {
    'batch_size': (int, 1), 'num_workers': (int, 0), 'max_epochs': (int, 1), 'max_iters': (int, 1),
    'val_interval': (int, 1), 'val_begin': (int, 1), 'num_classes': (int, 1), 'prefetch_factor': (int, 1),
    'lr': (float, 0), 'weight_decay': (float, 0), 'momentum': (float, 0), 'depth': (int, 1),
}


NUMBERS = (int, float)
CONTAINERS = (tuple, list, dict, set, abc.Sequence, abc.Iterable, abc.Mapping, abc.Collection)


def _says_number(default, annotation) -> bool:
    """Whether a signature says its argument is a number: a numeric default, or an annotation of ``int``,
    ``float``, ``Optional`` or a ``Union`` of them."""
    if isinstance(default, NUMBERS) and not isinstance(default, bool) and annotation is inspect.Parameter.empty:
        return True
    if isinstance(annotation, str):
        return re.fullmatch(r'(Optional\[)?(int|float)\]?|Union\[(int|float), ?(int|float)\]', annotation) is not None
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    return annotation in NUMBERS or (bool(arguments) and all(a in NUMBERS for a in arguments))


def _refuses_string(annotation) -> bool:
    """Whether an annotation leaves no room for a string: numbers, booleans, containers, and unions of them
    (``Union[float, tuple]``, ``Optional[Sequence[int]]``); an unknown or absent annotation refuses nothing."""
    if isinstance(annotation, str):
        return (re.search(r'\b(str|Any|object|Path|PathLike|Callable|ConfigType|OptConfigType)\b', annotation) is None
                and re.search(r'\b(int|float|bool|Tuple|tuple|Sequence|List|list)\b', annotation) is not None)
    if annotation in NUMBERS + (bool, ) or annotation in CONTAINERS:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        return all(_refuses_string(a) for a in typing.get_args(annotation) if a is not type(None))
    return origin in CONTAINERS


def number_problem(name: str, value, default=inspect.Parameter.empty,
                   annotation=inspect.Parameter.empty) -> Optional[str]:
    """What is wrong with ``value`` as the argument ``name`` (``None`` if nothing): a name of
    :data:`NUMBER_RANGES` outside its range or not a number, or a string where the signature says a number
    (``batch_size='32'``: a numeric default or annotation).

    Args:
        name: The argument's name.
        value: What the config gives.
        default: The argument's default in the signature of what takes it, if it has one.
        annotation: The argument's annotation there, if it has one.
    """
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if name in NUMBER_RANGES:
        kind, minimum = NUMBER_RANGES[name]
        if value is None and default is None:
            return None
        if not numeric or (kind is int and not isinstance(value, int)):
            return f'must be {"an integer" if kind is int else "a number"}, got {value!r}'
        if value < minimum:
            return f'must be at least {minimum}, got {value!r}'
        return None
    if isinstance(value, str) and _says_number(default, annotation):
        return f'must be a number, got {value!r}'
    if isinstance(value, str) and _refuses_string(annotation):
        text = annotation if isinstance(annotation, str) else str(annotation).replace('typing.', '')
        return f'cannot be a string ({value!r}); it takes {text}'
    return None
