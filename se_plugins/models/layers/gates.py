"""The excitation's gates: eq. (3)'s sigmoid and the paper's ablations, in one table.

Each :class:`Gate` gives the three forms the SE block needs: the module its plain form calls (so hooks on
``se.gate`` see the excitation), and the function and derivative its fused training form
(:class:`~se_plugins.models.layers.fused_se.SEScaleAdd`) computes with. A gate added to :data:`GATES` is
checked when it is made: its module, function and derivative must agree, so a gate cannot train with one
function and evaluate with another.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Type

import torch
import torch.nn as nn
import torch.nn.functional as F

from se_plugins.utils import InputError, check_choice

Tensor = torch.Tensor


@dataclass(frozen=True)
class Gate:
    """One excitation gate.

    Args:
        name: The name configs give it (``se_gate``, ``gate``).
        module: Its ``nn.Module`` class, built without arguments: what the plain form calls.
        function: ``gate(v)``: what the fused form computes.
        derivative: ``d gate(v) / d v`` from the gate's input ``v`` and output ``s = gate(v)``: what the
            fused form's backward uses.

    Raises:
        InputError: If the three disagree (outputs, or the derivative against autograd's, on sample points
            in ``[-4, 4]``).
    """

    name: str
    module: Type[nn.Module]
    function: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor, Tensor], Tensor]

    def __post_init__(self) -> None:
        # sample points off the kinks of relu (0) and the hard sigmoid (-3, 3)
        v = torch.linspace(-4, 4, 26, dtype=torch.float64).add_(0.01).requires_grad_()
        s = self.function(v)
        expected, = torch.autograd.grad(s.sum(), v)
        with torch.no_grad():
            if not torch.allclose(self.module()(v), s):
                raise InputError(f'gate {self.name!r}: its module {self.module.__name__} and its function give '
                                 'different outputs')
            if not torch.allclose(self.derivative(v, s), expected):
                raise InputError(f'gate {self.name!r}: its derivative is not that of its function')


def _register(*gates: Gate) -> Dict[str, Gate]:
    return {gate.name: gate for gate in gates}


GATES: Dict[str, Gate] = _register(
    Gate('sigmoid', nn.Sigmoid, torch.sigmoid, lambda v, s: s * (1 - s)),
    Gate('hsigmoid', nn.Hardsigmoid, F.hardsigmoid, lambda v, s: ((v > -3) & (v < 3)).to(v.dtype) / 6),
    Gate('tanh', nn.Tanh, torch.tanh, lambda v, s: 1 - s * s),
    Gate('relu', nn.ReLU, torch.relu, lambda v, s: (v > 0).to(v.dtype)),
)


def get_gate(name: str, key: str = 'gate') -> Gate:
    """The gate named ``name``; an unknown name is an :class:`~se_plugins.utils.InputError` naming ``key``
    and the known gates."""
    check_choice(key, name, GATES)
    gate = GATES[name]
    if not isinstance(gate, Gate):
        raise InputError(f'{key}: GATES[{name!r}] is a {type(gate).__name__}, not a Gate (module, function and '
                         'derivative)')
    return gate
