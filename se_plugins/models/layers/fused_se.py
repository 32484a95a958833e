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
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

Tensor = torch.Tensor


def _gate(v: Tensor, gate: str) -> Tensor:
    if gate == 'sigmoid':
        return torch.sigmoid(v)
    if gate == 'hsigmoid':
        return F.hardsigmoid(v)
    if gate == 'tanh':
        return torch.tanh(v)
    return torch.relu(v)


def _gate_grad(v: Tensor, s: Tensor, gate: str) -> Tensor:
    """``d gate(v) / d v`` from the gate's input ``v`` and output ``s``."""
    if gate == 'sigmoid':
        return s * (1 - s)
    if gate == 'hsigmoid':
        return ((v > -3) & (v < 3)).to(v.dtype) / 6
    if gate == 'tanh':
        return 1 - s * s
    return (v > 0).to(v.dtype)


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
    (biases may be ``None``); ``gate``, one of ``'sigmoid'``, ``'hsigmoid'``, ``'tanh'``, ``'relu'``.
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
        hidden = F.relu(F.linear(pooled, fc1_weight, fc1_bias))
        logits = F.linear(hidden, fc2_weight, fc2_bias)
        scale = _gate(logits, gate)
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
        grad_logits = grad_scale * _gate_grad(logits, scale, gate)
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
                    offset = affine * (squeeze_grad - grad_bias / count) - per_channel * mean  # D
                    # B x and D nearly cancel where the mean is large: in float32 at least (as the BN kernels
                    # compute), the map converted back to x's dtype under autocast
                    exact = torch.promote_types(x.dtype, dtype)
                    grad_x = torch.mul(x, per_channel.to(exact)[None, :, None, None]).add_(
                        offset.to(exact)[:, :, None, None])
                    grad_x = grad_x.addcmul_(grad_out, per_map.to(exact)[:, :, None, None]).to(x.dtype)
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
