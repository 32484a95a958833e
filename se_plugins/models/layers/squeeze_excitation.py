import warnings
from typing import Optional

import torch
import torch.nn as nn
from mmpretrain.models.utils import make_divisible

from se_plugins.utils import InputError, check_choice, check_positive_int

from .fused_se import building_a_graph, fused_form_applies, fused_scale_add
from .gates import get_gate

SQUEEZE_OPS = ('avg', 'max', 'avgmax')


def set_fused_backward(model: nn.Module, enabled: bool) -> nn.Module:
    """Set ``fused_backward`` of every :class:`SqueezeExcitation` in ``model`` (``False``: autograd on the
    submodules, the plain form) and return ``model``."""
    for module in model.modules():
        if isinstance(module, SqueezeExcitation):
            module.fused_backward = enabled
    return model


def check_se_options(ratio: Optional[int], squeeze: str, gate: str, prefix: str = '') -> None:
    """Check the options of :class:`SqueezeExcitation`, naming them with ``prefix`` (``'se_'`` in the
    backbones' arguments): ``ratio`` (``None``: not used) a positive integer, ``squeeze`` one of
    :data:`SQUEEZE_OPS`, ``gate`` one of :data:`~se_plugins.models.layers.gates.GATES`."""
    if ratio is not None:
        check_positive_int(f'{prefix}ratio', ratio)
    check_choice(f'{prefix}squeeze', squeeze, SQUEEZE_OPS)
    get_gate(gate, f'{prefix}gate')


def squeezing_through_reads_less(conv: nn.Conv2d, x: torch.Tensor) -> bool:
    """Whether :meth:`SqueezeExcitation.squeeze_through` reads less than the squeeze of ``conv(x)``: the values it
    leaves unread, ``(C_out - C_in) N H W``, outnumber the conv's weights, ``C_out C_in``, which it reads once
    more. In a ResNet-50's bottlenecks at 224x224 this holds in the first two stages at every batch, in the third
    from batch 2 and in the fourth from batch 14 (the last stages have small maps and large weights). A traced
    graph (ONNX export) keeps the choice made for its example input."""
    shape = x.shape
    if torch.jit.is_tracing():  # sizes are traced tensors: the tracer warns that the answer becomes a constant
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            shape = [int(size) for size in shape]
    batch, channels, height, width = shape
    return (conv.out_channels - channels) * batch * height * width > conv.out_channels * channels


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

    Every step is a submodule called as a module (``pool``, ``fc1``, ``relu``, ``fc2``, ``gate``), so
    forward hooks on any of them fire (``se.gate``'s records the excitation values ``s``) and
    module-swapping tools (``torch.ao.quantization.quantize_dynamic``, pruning, adapters) see
    ``fc1``/``fc2``. These are ``nn.Linear`` on the ``(N, C)`` squeeze: the same numbers as the 1x1
    convolutions of the original release, timm and Cadene's ``pretrainedmodels``, without a
    convolution's per-call cost on a 1x1 map. Checkpoints that hold them as 1x1 convolutions
    (``(C', C, 1, 1)`` weights, as every earlier se_plugins checkpoint and the peers' files do) load
    as they are. :meth:`scale_add` fuses the scale with a residual sum.

    Args:
        channels: Number of input (and output) channels ``C``.
        ratio: Reduction ratio ``r``; the bottleneck has ``C / r`` channels.
        squeeze_channels: Bottleneck width, overriding ``ratio``.
        divisor: If set, round ``C / r`` to the nearest multiple of ``divisor`` (at least
            ``divisor``), as timm's ``seresnet*`` do with 8. ``None`` keeps the paper's ``C // r``.
        squeeze: Squeeze operator: ``'avg'``, ``'max'`` or ``'avgmax'``.
        gate: Excitation gate: a name in :data:`~se_plugins.models.layers.gates.GATES`, the paper's
            ``'sigmoid'`` or ``'hsigmoid'``, ``'tanh'``, ``'relu'``.
        bias: Whether ``fc1`` and ``fc2`` have biases.

    Attributes:
        fused_backward: Let :meth:`scale_add` (and so ``forward``) run as one autograd function in
            training (default ``True``); ``False`` keeps autograd on the submodules.
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
        check_se_options(ratio if squeeze_channels is None else None, squeeze, gate)
        if squeeze_channels is None:
            if divisor is None:
                squeeze_channels = channels // ratio
            else:
                squeeze_channels = make_divisible(channels / ratio, divisor, min_ratio=0.0)
        if squeeze_channels < 1:
            raise InputError(f'{type(self).__name__} on {channels} channels with ratio {ratio} has '
                             f'{squeeze_channels} squeeze channels; use a smaller ratio')
        self.channels = channels
        self.squeeze_channels = squeeze_channels
        self.pool = GlobalPool(squeeze)
        self.fc1 = nn.Linear(channels, squeeze_channels, bias=bias)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(squeeze_channels, channels, bias=bias)
        self.gate_name = gate
        self.gate = get_gate(gate).module()
        self.fused_backward = True

    @property
    def squeeze(self) -> str:
        """The squeeze operator: ``'avg'``, ``'max'`` or ``'avgmax'``."""
        return self.pool.mode

    def excite(self, x: torch.Tensor, squeezed: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Return the excitation ``s`` of shape ``(N, C, 1, 1)``: eqs. (2) and (3).

        Args:
            x: The feature map ``U``, ``(N, C, H, W)``.
            squeezed: Its squeeze ``z``, ``(N, C)``, if the caller has it (:meth:`squeeze_through`); ``None``:
                eq. (2) on ``x``.
        """
        z = self.pool(x).flatten(1) if squeezed is None else squeezed
        return self.gate(self.fc2(self.relu(self.fc1(z)))[:, :, None, None])

    def squeeze_through(self, conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        """The squeeze (eq. (2)) of ``conv(x)``, ``(N, C)``, computed as ``conv`` applied to the squeeze of ``x``.

        For a 1x1 convolution of stride 1, without padding or groups, this is exact: the spatial average
        commutes with a map that is linear per pixel. It reads ``x`` (a bottleneck's last conv has a quarter of
        the channels at its input) and the conv's weights once more; :func:`squeezing_through_reads_less` says
        when that is less to read than ``conv(x)``. ``pool`` runs, as a module, on ``x``.

        Args:
            conv: A 1x1 ``nn.Conv2d`` of stride 1, without padding or groups, whose output is this SE's input.
            x: The input of ``conv``, ``(N, C_in, H, W)``.
        """
        return nn.functional.linear(self.pool(x).flatten(1), conv.weight.flatten(1), conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale_add(x)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        # fc1/fc2 weights saved as 1x1 convolutions, (C', C, 1, 1), are the same matrices.
        for name in ('fc1.weight', 'fc2.weight'):
            weight = state_dict.get(prefix + name)
            if weight is not None and weight.dim() == 4 and weight.shape[2:] == (1, 1):
                state_dict[prefix + name] = weight.flatten(1)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def scale_add(self,
                  x: torch.Tensor,
                  other: Optional[torch.Tensor] = None,
                  norm: Optional[nn.Module] = None,
                  out: Optional[torch.Tensor] = None,
                  squeezed: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``self(norm(x)) + other``: eq. (4) on the output of ``norm`` (``None``: on ``x``), then a
        residual block's sum (``None``: none), in one pass over the feature map (``torch.addcmul``).

        Where autograd records it (training), this runs as one autograd function,
        :class:`~se_plugins.models.layers.fused_se.SEScaleAdd`, whose backward needs fewer passes over the
        feature map and, with a BN ``norm``, keeps the BN's input instead of its output, unless
        :func:`~se_plugins.models.layers.fused_se.fused_form_applies` says otherwise (then the submodules
        run one by one).

        Args:
            x: The feature map ``U``, ``(N, C, H, W)`` (before ``norm``).
            other: The tensor added to the scaled map (a residual block's identity), or ``None``.
            norm: A BN applied to ``x`` first (the BN ending a residual branch), or ``None``.
            out: A temporary of the caller's that it hands over (``x`` itself, or ``other``, when nothing
                else holds them): where autograd does not record the step (inference), the result is
                written into it instead of a new tensor. On a CPU, a new map of a large batch costs more
                than the pass that fills it (its pages are mapped afresh on every call): this keeps deploy
                mode's SE at the paper's cost (docs/benchmark.md).
            squeezed: The squeeze of ``norm(x)``, ``(N, C)``, if the caller has it (:meth:`squeeze_through`);
                the step then runs on the submodules.
        """
        if squeezed is None and fused_form_applies(self, x, norm):
            return fused_scale_add(self, x, other, norm)
        if norm is not None:
            x = norm(x)
        s = self.excite(x, squeezed)
        if not _may_write_into(out, x, other, s):
            out = None
        return torch.mul(x, s, out=out) if other is None else torch.addcmul(other, x, s, out=out)


def _may_write_into(out: Optional[torch.Tensor], x: torch.Tensor, other: Optional[torch.Tensor],
                    s: torch.Tensor) -> bool:
    """Whether :meth:`SqueezeExcitation.scale_add` may write its result into ``out``: autograd does not record
    the step, no graph is being traced, exported or compiled (they take no ``out=``), and ``out`` has the
    result's shape, dtype and memory layout."""
    if out is None or (torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, other, s))):
        return False
    if building_a_graph():
        return False
    tensors = [x] if other is None else [x, other]
    return all(t.shape == out.shape and t.dtype == out.dtype and t.stride() == out.stride() for t in tensors) \
        and s.dtype == out.dtype
