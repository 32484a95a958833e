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
                (oneDNN) and on GPUs with tensor cores (docs/benchmark.md); outputs are equal either way.

        Returns:
            This backbone, fused: its outputs equal the unfused model's in eval mode, to float rounding.
        """
        self.eval()
        fuse_conv_bn(self)
        if channels_last:
            self.to(memory_format=torch.channels_last)
        return self
