from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.utils import make_divisible

from se_plugins.utils import InputError

SQUEEZE_OPS = ('avg', 'max', 'avgmax')
GATES = {
    'sigmoid': nn.Sigmoid,
    'hsigmoid': nn.Hardsigmoid,
    'tanh': nn.Tanh,
    'relu': nn.ReLU,
}


def check_choice(name: str, value, choices) -> None:
    """Raise an InputError naming ``name`` and the valid ``choices`` if ``value`` is not one of them."""
    if value not in choices:
        raise InputError(f'{name}={value!r} is not supported; choose one of {sorted(choices)}')


class GlobalPool(nn.Module):
    """The squeeze of eq. (2): one value per channel, ``(N, C, H, W) -> (N, C, 1, 1)``.

    Args:
        mode: ``'avg'`` (the paper's), ``'max'`` (its ablation) or ``'avgmax'`` ((avg + max) / 2).
    """

    def __init__(self, mode: str = 'avg') -> None:
        super().__init__()
        check_choice('squeeze', mode, SQUEEZE_OPS)
        self.mode = mode

    def extra_repr(self) -> str:
        return repr(self.mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == 'avg':
            return x.mean((2, 3), keepdim=True)
        if self.mode == 'max':
            return x.amax((2, 3), keepdim=True)
        return 0.5 * x.mean((2, 3), keepdim=True) + 0.5 * x.amax((2, 3), keepdim=True)


class SqueezeExcitation(nn.Module):
    """Squeeze-and-Excitation block (Hu et al., "Squeeze-and-Excitation Networks", TPAMI 2019).

    For an input ``U`` of ``C`` channels:

    - squeeze, eq. (2): ``z_c = mean_{i,j} u_c(i, j)`` (global average pooling; ``squeeze`` selects
      the paper's max-pooling ablation or timm's ``avgmax`` = (avg + max) / 2);
    - excitation, eq. (3): ``s = gate(W2 · relu(W1 · z))``, with ``W1`` of shape ``(C/r) x C``
      (``fc1``) and ``W2`` of shape ``C x (C/r)`` (``fc2``); ``gate`` is the paper's sigmoid or one of
      its ablations (tanh, relu) or the hard sigmoid of MobileNetV3;
    - scale, eq. (4): ``x~_c = s_c · u_c``.

    ``fc1``/``fc2`` are stored as 1x1 convolutions, the layout of the original release, timm and
    Cadene's ``pretrainedmodels``. The squeeze (``pool``) and the gate are submodules, so
    ``se.gate`` can carry a forward hook that records the excitation values ``s`` (see
    :meth:`excite`), and ``se.pool`` one that sees the input. :meth:`scale_add` fuses the scale
    with a residual sum.

    Args:
        channels: Number of input (and output) channels ``C``.
        ratio: Reduction ratio ``r``; the bottleneck has ``C / r`` channels.
        squeeze_channels: Bottleneck width, overriding ``ratio``.
        divisor: If set, round ``C / r`` to the nearest multiple of ``divisor`` (at least
            ``divisor``), as timm's ``seresnet*`` do with 8. ``None`` keeps the paper's ``C // r``.
        squeeze: Squeeze operator: ``'avg'``, ``'max'`` or ``'avgmax'``.
        gate: Excitation gate: ``'sigmoid'``, ``'hsigmoid'``, ``'tanh'`` or ``'relu'``.
        bias: Whether ``fc1`` and ``fc2`` have biases.
    """

    def __init__(self,
                 channels: int,
                 ratio: int = 16,
                 squeeze_channels: Optional[int] = None,
                 divisor: Optional[int] = None,
                 squeeze: str = 'avg',
                 gate: str = 'sigmoid',
                 bias: bool = True) -> None:
        super().__init__()
        check_choice('squeeze', squeeze, SQUEEZE_OPS)
        check_choice('gate', gate, GATES)
        if squeeze_channels is None:
            if not isinstance(ratio, int) or ratio <= 0:
                raise InputError(f'ratio must be a positive integer, got {ratio!r}')
            if divisor is None:
                squeeze_channels = channels // ratio
            else:
                squeeze_channels = make_divisible(channels / ratio, divisor, min_ratio=0.0)
        if squeeze_channels < 1:
            raise InputError(f'SqueezeExcitation on {channels} channels with ratio {ratio} has '
                             f'{squeeze_channels} squeeze channels; use a smaller ratio')
        self.channels = channels
        self.squeeze_channels = squeeze_channels
        self.pool = GlobalPool(squeeze)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, kernel_size=1, bias=bias)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, kernel_size=1, bias=bias)
        self.gate = GATES[gate]()

    @property
    def squeeze(self) -> str:
        """The squeeze operator: ``'avg'``, ``'max'`` or ``'avgmax'``."""
        return self.pool.mode

    def excite(self, x: torch.Tensor) -> torch.Tensor:
        """Return the excitation ``s`` of shape ``(N, C, 1, 1)``: eqs. (2) and (3)."""
        z = self.pool(x).flatten(1)
        # fc1/fc2 are stored as 1x1 convs but applied as matrix products on the (N, C) squeeze:
        # the same numbers, without a convolution's per-call overhead on a 1x1 map.
        z = self.relu(F.linear(z, self.fc1.weight.flatten(1), self.fc1.bias))
        return self.gate(F.linear(z, self.fc2.weight.flatten(1), self.fc2.bias)[:, :, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.excite(x)

    def scale_add(self, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        """``self(x) + other`` in one pass over the feature map (``torch.addcmul``): the SE scale
        fused with a residual block's sum."""
        return torch.addcmul(other, x, self.excite(x))
