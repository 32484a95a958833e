from typing import Optional

import torch
import torch.nn as nn
from mmpretrain.models.utils import make_divisible

from se_plugins.utils import InputError, check_choice, check_positive_int

from .fused_se import SEScaleAdd

SQUEEZE_OPS = ('avg', 'max', 'avgmax')
GATES = {
    'sigmoid': nn.Sigmoid,
    'hsigmoid': nn.Hardsigmoid,
    'tanh': nn.Tanh,
    'relu': nn.ReLU,
}
GATE_NAMES = {gate: name for name, gate in GATES.items()}  # what SEScaleAdd takes for each gate module


def _has_hooks(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
                or module._backward_pre_hooks)


def _global_hooks() -> bool:
    hooks = nn.modules.module
    return bool(hooks._global_forward_hooks or hooks._global_forward_pre_hooks or hooks._global_backward_hooks
                or hooks._global_backward_pre_hooks)


def _batch_norm_arguments(bn: nn.BatchNorm2d) -> tuple:
    """What :class:`SEScaleAdd` takes of a BN, counting the batch as ``nn.BatchNorm2d.forward`` does."""
    momentum = 0.0
    if bn.training:
        bn.num_batches_tracked.add_(1)
        momentum = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    return bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.training, momentum, bn.eps


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
    :data:`SQUEEZE_OPS`, ``gate`` one of :data:`GATES`."""
    if ratio is not None:
        check_positive_int(f'{prefix}ratio', ratio)
    check_choice(f'{prefix}squeeze', squeeze, SQUEEZE_OPS)
    check_choice(f'{prefix}gate', gate, GATES)


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
        gate: Excitation gate: ``'sigmoid'``, ``'hsigmoid'``, ``'tanh'`` or ``'relu'``.
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
        self.gate = GATES[gate]()
        self.fused_backward = True

    @property
    def squeeze(self) -> str:
        """The squeeze operator: ``'avg'``, ``'max'`` or ``'avgmax'``."""
        return self.pool.mode

    def excite(self, x: torch.Tensor) -> torch.Tensor:
        """Return the excitation ``s`` of shape ``(N, C, 1, 1)``: eqs. (2) and (3)."""
        z = self.relu(self.fc1(self.pool(x).flatten(1)))
        return self.gate(self.fc2(z)[:, :, None, None])

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
                  norm: Optional[nn.Module] = None) -> torch.Tensor:
        """``self(norm(x)) + other``: eq. (4) on the output of ``norm`` (``None``: on ``x``), then a
        residual block's sum (``None``: none), in one pass over the feature map (``torch.addcmul``).

        Where autograd records it (training), this runs as one autograd function,
        :class:`~se_plugins.models.layers.fused_se.SEScaleAdd`, whose backward needs fewer passes over the
        feature map and, with a BN ``norm``, keeps the BN's input instead of its output, unless
        :meth:`fused_backward_applies` says otherwise (then the submodules run one by one).

        Args:
            x: The feature map ``U``, ``(N, C, H, W)`` (before ``norm``).
            other: The tensor added to the scaled map (a residual block's identity), or ``None``.
            norm: A BN applied to ``x`` first (the BN ending a residual branch), or ``None``.
        """
        if self.fused_backward_applies(x, norm):
            norm_arguments = (None, ) * 4 + (False, 0.0, 0.0) if norm is None else _batch_norm_arguments(norm)
            return SEScaleAdd.apply(x, other, *norm_arguments, self.fc1.weight, self.fc1.bias, self.fc2.weight,
                                    self.fc2.bias, GATE_NAMES[type(self.gate)])
        if norm is not None:
            x = norm(x)
        s = self.excite(x)
        return x * s if other is None else torch.addcmul(other, x, s)

    def fused_backward_applies(self, x: torch.Tensor, norm: Optional[nn.Module] = None) -> bool:
        """Whether :meth:`scale_add` runs as one autograd function: autograd records it (not under
        ``torch.no_grad``, some input or parameter requires grad), ``fused_backward`` is set (the
        default), the squeeze is the paper's average, no ``torch.compile``, tracing or ONNX export is
        running (they build their own graphs; under autocast it runs, its statistics in float32), the
        submodules are the ones this class builds (not swapped by a quantisation or pruning tool) and no
        hook is registered on this block, its submodules or ``norm`` (so hooks always see every step
        run), and ``norm`` is ``None`` or a plain ``nn.BatchNorm2d`` with affine parameters and running
        statistics (a SyncBN runs as itself)."""
        if not (self.fused_backward and torch.is_grad_enabled() and self.pool.mode == 'avg'):
            return False
        if (torch.jit.is_scripting() or torch.jit.is_tracing() or torch.compiler.is_compiling()
                or torch.onnx.is_in_onnx_export()):
            return False
        if not (type(self.fc1) is nn.Linear and type(self.fc2) is nn.Linear and type(self.relu) is nn.ReLU
                and type(self.gate) in GATE_NAMES):
            return False
        modules = [self, self.pool, self.fc1, self.relu, self.fc2, self.gate]
        if norm is not None:
            if not (type(norm) is nn.BatchNorm2d and norm.affine and norm.track_running_stats):
                return False
            modules.append(norm)
        if _global_hooks() or any(_has_hooks(module) for module in modules):
            return False
        return x.requires_grad or any(p.requires_grad for m in modules for p in m.parameters(recurse=False))
