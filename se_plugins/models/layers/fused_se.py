"""The SE block's training-time form: squeeze, excitation, scale and residual sum as one autograd function.

Autograd on the plain form (``u * gate(fc2(relu(fc1(mean_hw(u))))) + other``, with ``u`` the output of the
residual branch's last BN) keeps ``u`` for the backward of the scale, a feature map that the plain ResNet
does not keep (its BN keeps its input), and spends three passes over the map on ``dL/du``: the scale's
``g * s``, the product ``g * u`` for ``dL/ds``, and the squeeze's broadcast gradient added to the first.

:class:`SEScaleAdd` keeps, besides ``(N, C)`` vectors, only the map autograd keeps anyway: the BN's input
``x`` (or, without a BN, the SE's input). Its backward forms ``dL/ds = sum_hw g * u`` from ``sum_hw g * x``
and ``sum_hw g`` (``u`` is affine in ``x`` per channel), writes the excitation's backward out on ``(N, C)``
tensors, and returns ``dL/dx`` without forming ``dL/du = g * s + p`` (``p``: the squeeze's gradient over
``H W``): the BN's backward on it is ``dL/dx = A g + B x + D`` with per-sample, per-channel ``A`` and ``D``
and per-channel ``B``, whose sums over ``(N, H, W)`` all come from the ``(N, C)`` sums above. The two sums
over the map are one pass of PyTorch's BN backward kernel (see :func:`_spatial_sums`). Without a BN,
``dL/dx = g * s + p``. The BN's forward is PyTorch's own kernel (which updates its running
statistics); its backward, written out here, equals PyTorch's to float rounding (tested in float64 with
``gradcheck`` and against the plain form in every network).
"""
from typing import TYPE_CHECKING, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from .gates import get_gate

if TYPE_CHECKING:
    from .squeeze_excitation import SqueezeExcitation

Tensor = torch.Tensor


def _spatial_sums(grad: Tensor, x: Tensor) -> Tuple[Tensor, Tensor]:
    """``(sum_hw grad * x, sum_hw grad)``, each ``(N, C)``.

    On contiguous maps this is one pass of PyTorch's BN backward kernel over the maps seen as one sample
    of ``N * C`` channels, with mean 0 and inverse std 1: its weight and bias gradients are these two sums
    (several times faster than a product and a sum on the CPU).
    """
    if grad.dtype != x.dtype:  # under autocast: a float32 gradient of a bfloat16 / float16 map
        dtype = torch.promote_types(grad.dtype, x.dtype)
        grad, x = grad.to(dtype), x.to(dtype)
    n, c, height, width = x.shape
    if grad.is_contiguous() and x.is_contiguous():
        zeros, ones = x.new_zeros(n * c), x.new_ones(n * c)
        _, dot, total = torch.ops.aten.native_batch_norm_backward(
            grad.view(1, n * c, height, width), x.view(1, n * c, height, width), ones, None, None, zeros, ones,
            True, 0.0, [False, True, True])
        return dot.view(n, c), total.view(n, c)
    return (grad * x).sum((2, 3)), grad.sum((2, 3))


class SEScaleAdd(torch.autograd.Function):
    """``norm(x) * s + other`` with ``s = gate(fc2(relu(fc1(mean_hw(norm(x))))))``; ``other`` and ``norm``
    may be absent (``None``). See the module docstring for what it saves and how its backward works.

    Arguments of :meth:`forward` (``apply`` takes them positionally): ``x`` ``(N, C, H, W)``; ``other``
    (same shape, or ``None``); the BN's ``norm_weight``, ``norm_bias``, ``running_mean``, ``running_var``
    (``None`` without a BN), ``norm_training`` (batch statistics, updating the running ones with
    ``momentum``) and ``eps``; the excitation's ``fc1_weight``, ``fc1_bias``, ``fc2_weight``, ``fc2_bias``
    (biases may be ``None``); ``gate``, the name of a gate of :data:`~se_plugins.models.layers.gates.GATES`.
    """

    @staticmethod
    def forward(ctx, x: Tensor, other: Optional[Tensor], norm_weight: Optional[Tensor],
                norm_bias: Optional[Tensor], running_mean: Optional[Tensor], running_var: Optional[Tensor],
                norm_training: bool, momentum: float, eps: float, fc1_weight: Tensor, fc1_bias: Optional[Tensor],
                fc2_weight: Tensor, fc2_bias: Optional[Tensor], gate: str) -> Tensor:
        with_norm = norm_weight is not None
        # the squeeze of the BN's input (or of the branch without a BN), z = mean_hw
        input_pooled = x.mean((2, 3), dtype=torch.promote_types(x.dtype, torch.float32))  # float32 under autocast
        if with_norm:
            branch, mean, invstd = torch.ops.aten.native_batch_norm(x, norm_weight, norm_bias, running_mean,
                                                                    running_var, norm_training, momentum, eps)
            if not norm_training:
                mean, invstd = running_mean.clone(), torch.rsqrt(running_var + eps)
            # the BN is affine per channel: the squeeze of its output, without a pass over that output
            pooled = (norm_weight * invstd) * (input_pooled - mean) + norm_bias
        else:
            branch, mean, invstd, pooled = x, None, None, input_pooled
        # the excitation on (N, C) vectors in the parameters' dtype: autocast would cast the weights to bf16 at
        # every call, for products too small to gain from it
        with torch.autocast(x.device.type, enabled=False):
            hidden = F.relu(F.linear(pooled.to(fc1_weight.dtype), fc1_weight, fc1_bias))
            logits = F.linear(hidden, fc2_weight, fc2_bias)
            scale = get_gate(gate).function(logits)
        scale4d = scale.to(branch.dtype)[:, :, None, None]
        if not with_norm:  # the branch is the input
            out = branch * scale4d if other is None else torch.addcmul(other, branch, scale4d)
        elif other is None:
            out = branch.mul_(scale4d)  # the BN's output is this function's own: written over, not allocated
        else:
            out = torch.addcmul(other, branch, scale4d, out=branch)
        # x is the BN's input with a BN (its output, the branch, is not kept), else the branch itself
        ctx.save_for_backward(x, norm_weight, norm_bias, mean, invstd, input_pooled, pooled, hidden, logits, scale,
                              fc1_weight, fc2_weight)
        ctx.flags = (with_norm, other is not None, norm_training, gate, fc1_bias is not None, fc2_bias is not None)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor) -> Tuple[Optional[Tensor], ...]:
        (x, norm_weight, norm_bias, mean, invstd, input_pooled, pooled, hidden, logits, scale, fc1_weight,
         fc2_weight) = ctx.saved_tensors
        with_norm, with_other, norm_training, gate, fc1_has_bias, fc2_has_bias = ctx.flags
        needs = ctx.needs_input_grad
        # the (N, C) algebra in the parameters' dtype (float32 under autocast), the feature maps in theirs
        dtype = fc1_weight.dtype
        input_pooled, pooled, hidden, logits, scale = (t.to(dtype)
                                                       for t in (input_pooled, pooled, hidden, logits, scale))
        num_pixels = x.shape[2] * x.shape[3]
        grad_dot, grad_sum = (t.to(dtype) for t in _spatial_sums(grad_out, x))  # sum_hw g * x, sum_hw g
        if with_norm:
            # branch = a (x - mean) + beta per channel, a = gamma * invstd
            gamma, beta, mean, invstd = (t.to(dtype) for t in (norm_weight, norm_bias, mean, invstd))
            affine = gamma * invstd
            grad_dot_normalised = invstd * (grad_dot - mean * grad_sum)  # sum_hw g * x^, x^ = (x - mean) invstd
            grad_scale = gamma * grad_dot_normalised + beta * grad_sum  # sum_hw g * branch
        else:
            grad_scale = grad_dot
        # the excitation, on (N, C) tensors
        grad_logits = grad_scale * get_gate(gate).derivative(logits, scale)
        grad_hidden = (grad_logits @ fc2_weight) * (hidden > 0).to(dtype)
        # dL/dbranch = g * s + p, with p = (dL/dz) / (H W) the squeeze's gradient
        squeeze_grad = (grad_hidden @ fc1_weight) / num_pixels
        grad_x = grad_norm_weight = grad_norm_bias = None
        if not with_norm:
            if needs[0]:
                grad_x = torch.mul(grad_out, scale.to(grad_out.dtype)[:, :, None, None]).add_(
                    squeeze_grad.to(grad_out.dtype)[:, :, None, None])
        else:
            # The BN's backward on dL/dbranch = g * s + p, written out: its sums over (N, H, W) come from the
            # (N, C) sums above, and dL/dx = A g + B x + D (per-sample, per-channel A and D, per-channel B)
            # is formed without dL/dbranch.
            normalised_sum = num_pixels * invstd * (input_pooled - mean)  # sum_hw x^
            grad_bias = (scale * grad_sum).sum(0) + num_pixels * squeeze_grad.sum(0)  # sum_nhw dL/dbranch
            grad_weight = (scale * grad_dot_normalised + squeeze_grad * normalised_sum).sum(0)  # ... * x^
            grad_norm_weight = grad_weight.to(norm_weight.dtype) if needs[2] else None
            grad_norm_bias = grad_bias.to(norm_bias.dtype) if needs[3] else None
            if needs[0]:
                per_map = affine * scale  # A
                if norm_training:  # the batch statistics depend on x
                    count = x.shape[0] * num_pixels
                    per_channel = -affine * invstd * grad_weight / count  # B
                    centred_offset = affine * (squeeze_grad - grad_bias / count)  # D + B mean
                    if x.dtype == dtype:
                        # B x and D nearly cancel where the mean is large; in float32 or float64 they are exact
                        grad_x = torch.mul(x, per_channel[None, :, None, None]).add_(
                            (centred_offset - per_channel * mean)[:, :, None, None])
                    else:  # a bf16 / fp16 map under autocast: B (x - mean), computed in float32 and written in
                        # x's dtype in one pass by the BN kernel (inference form: mean, variance 1, weight B)
                        ones = torch.ones_like(mean)
                        grad_x = torch.ops.aten.native_batch_norm(x, per_channel, None, mean, ones, False, 0.0,
                                                                  0.0)[0]
                        grad_x = grad_x.add_(centred_offset.to(x.dtype)[:, :, None, None])
                    grad_x = grad_x.addcmul_(grad_out, per_map.to(x.dtype)[:, :, None, None])
                else:
                    grad_x = torch.addcmul((affine * squeeze_grad).to(x.dtype)[:, :, None, None], grad_out,
                                           per_map.to(x.dtype)[:, :, None, None])
        grad_other = grad_out if with_other and needs[1] else None
        return (grad_x, grad_other, grad_norm_weight, grad_norm_bias, None, None, None, None, None,
                grad_hidden.t() @ pooled if needs[9] else None,
                grad_hidden.sum(0) if fc1_has_bias and needs[10] else None,
                grad_logits.t() @ hidden if needs[11] else None,
                grad_logits.sum(0) if fc2_has_bias and needs[12] else None,
                None)


def _has_hooks(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
                or module._backward_pre_hooks)


def _global_hooks() -> bool:
    hooks = nn.modules.module
    return bool(hooks._global_forward_hooks or hooks._global_forward_pre_hooks or hooks._global_backward_hooks
                or hooks._global_backward_pre_hooks)


def building_a_graph() -> bool:
    """Whether TorchScript, tracing, ONNX export or ``torch.compile`` is building a graph of the forward pass
    (they record their own operators: no fused autograd function, no writes into ``out=``)."""
    return (torch.jit.is_scripting() or torch.jit.is_tracing() or torch.compiler.is_compiling()
            or torch.onnx.is_in_onnx_export())


def fused_form_applies(se: 'SqueezeExcitation', x: Tensor, norm: Optional[nn.Module] = None) -> bool:
    """Whether ``se.scale_add(x, other, norm)`` runs as :class:`SEScaleAdd`: autograd records it (not under
    ``torch.no_grad``, some input or parameter requires grad), ``se.fused_backward`` is set (the default), the
    squeeze is the paper's average, no ``torch.compile``, tracing or ONNX export is running (they build their
    own graphs; under autocast it runs, its statistics in float32), the submodules are the ones the block
    builds (not swapped by a quantisation or pruning tool) and no hook is registered on the block, its
    submodules or ``norm`` (so hooks always see every step run), and ``norm`` is ``None`` or a plain
    ``nn.BatchNorm2d`` with affine parameters and running statistics (a SyncBN runs as itself)."""
    if not (se.fused_backward and torch.is_grad_enabled() and se.pool.mode == 'avg'):
        return False
    if building_a_graph():
        return False
    if not (type(se.fc1) is nn.Linear and type(se.fc2) is nn.Linear and type(se.relu) is nn.ReLU
            and type(se.gate) is get_gate(se.gate_name).module):
        return False
    modules = [se, se.pool, se.fc1, se.relu, se.fc2, se.gate]
    if norm is not None:
        if not (type(norm) is nn.BatchNorm2d and norm.affine and norm.track_running_stats):
            return False
        modules.append(norm)
    if _global_hooks() or any(_has_hooks(module) for module in modules):
        return False
    return x.requires_grad or any(p.requires_grad for m in modules for p in m.parameters(recurse=False))


def _count_batch(bn: nn.BatchNorm2d) -> float:
    """Count a training batch in ``bn.num_batches_tracked`` and return the momentum of its running statistics'
    update, as ``nn.BatchNorm2d.forward`` does (0 in eval mode: nothing is counted or updated)."""
    if not bn.training:
        return 0.0
    bn.num_batches_tracked.add_(1)
    return 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum


def fused_scale_add(se: 'SqueezeExcitation', x: Tensor, other: Optional[Tensor] = None,
                    norm: Optional[nn.BatchNorm2d] = None) -> Tensor:
    """``se.scale_add(x, other, norm)`` as one :class:`SEScaleAdd` (where :func:`fused_form_applies`)."""
    if norm is None:
        norm_arguments = (None, None, None, None, False, 0.0, 0.0)
    else:
        momentum = _count_batch(norm)
        norm_arguments = (norm.weight, norm.bias, norm.running_mean, norm.running_var, norm.training, momentum,
                          norm.eps)
    return SEScaleAdd.apply(x, other, *norm_arguments, se.fc1.weight, se.fc1.bias, se.fc2.weight, se.fc2.bias,
                            se.gate_name)
