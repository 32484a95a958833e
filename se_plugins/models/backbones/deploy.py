import torch
import torch.nn as nn
from mmcv.cnn import fuse_conv_bn


class DeployMixin:
    """``fuse()``: every se_plugins backbone's deploy mode."""

    def fuse(self: nn.Module, channels_last: bool = True) -> nn.Module:
        """Deploy mode, for inference: fold every BN into the conv before it (mmcv's ``fuse_conv_bn``,
        with the BN's running statistics), switch to eval mode and, by default, store the weights
        channels-last. The SE scale is already one pass with the residual sum
        (:meth:`~se_plugins.models.layers.SqueezeExcitation.scale_add`).

        Args:
            channels_last: Store the convolutions' weights in ``torch.channels_last`` memory format, so
                that every convolution runs on channels-last feature maps (a contiguous input is
                converted by the first one): faster for every ResNet-50 on this project's CPU
                (oneDNN) and on GPUs with tensor cores (docs/benchmark.md); the feature maps it returns are
                contiguous either way (one copy of each), and equal.

        Returns:
            This backbone, fused: its outputs equal the unfused model's in eval mode, to float rounding.
        """
        self.eval()
        fuse_conv_bn(self)
        if channels_last:
            self.to(memory_format=torch.channels_last)
            if not getattr(self, '_contiguous_outputs', None):
                self._contiguous_outputs = self.register_forward_hook(_contiguous)
        return self


def _contiguous(module: nn.Module, inputs: tuple, outputs):
    """A channels-last backbone's feature maps, handed on in the contiguous layout: what follows a backbone
    may read a map's memory as NCHW without looking at its strides (mmcv's RoIAlign on the CPU does: on
    channels-last maps a deployed Faster R-CNN detected other objects than the eager one)."""
    if isinstance(outputs, torch.Tensor):
        return outputs.contiguous()
    return type(outputs)(output.contiguous() if isinstance(output, torch.Tensor) else output for output in outputs)
