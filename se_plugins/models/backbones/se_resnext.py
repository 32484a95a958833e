import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmpretrain.models.backbones.resnext import Bottleneck as ResNeXtBottleneck
from mmpretrain.models.backbones.resnext import ResNeXt

from se_plugins.registry import MODELS

from .se_resnet import SEBottleneck, SEResNet


class SEResNeXtBottleneck(SEBottleneck, ResNeXtBottleneck):
    """mmpretrain's ResNeXt bottleneck (grouped 3x3 conv) with an SE module."""


@MODELS.register_module()
class SEResNeXt(SEResNet, ResNeXt):
    """SE-ResNeXt backbone: mmpretrain's ResNeXt with SE modules in its residual blocks.

    Args:
        depth: 50, 101 or 152.
        groups: Groups of the 3x3 conv (the cardinality): 32 for 32x4d, 64 for 64x4d.
        width_per_group: Width of each group in the first stage: 4 for 32x4d and 64x4d.
        **kwargs: The SE arguments of :class:`SEResNet` and the arguments of mmpretrain's
            ``ResNet``.
    """

    arch_settings = {
        50: (SEResNeXtBottleneck, (3, 4, 6, 3)),
        101: (SEResNeXtBottleneck, (3, 4, 23, 3)),
        152: (SEResNeXtBottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth: int, groups: int = 32, width_per_group: int = 4, **kwargs) -> None:
        super().__init__(depth, groups=groups, width_per_group=width_per_group, **kwargs)


class SENet154Bottleneck(SEResNeXtBottleneck):
    """SENet-154's bottleneck: its first 1x1 conv has half the width of the grouped 3x3 conv."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs) -> None:
        super().__init__(in_channels, out_channels, **kwargs)
        reduced = self.mid_channels // 2
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, reduced, postfix=1)
        self.conv1 = build_conv_layer(
            self.conv_cfg, in_channels, reduced, kernel_size=1, stride=self.conv1_stride, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(
            self.conv_cfg,
            reduced,
            self.mid_channels,
            kernel_size=3,
            stride=self.conv2_stride,
            padding=self.dilation,
            dilation=self.dilation,
            groups=self.groups,
            bias=False)


@MODELS.register_module()
class SENet154(SEResNeXt):
    """SENet-154, the ILSVRC 2017 winner: SE-ResNeXt-152 (64x4d) with the original release's
    three-conv stem (64, 64, 128 channels), 3x3 projection shortcuts where they downsample (the
    stride-1 shortcut of the first stage stays 1x1), and bottlenecks whose first 1x1 conv has half
    the grouped conv's width.

    Args:
        depth: Only 152.
        groups: Cardinality of the grouped 3x3 convs.
        width_per_group: Width of each group in the first stage.
        stem_channels: Output channels of the three-conv stem.
        **kwargs: The arguments of :class:`SEResNeXt`.
    """

    arch_settings = {152: (SENet154Bottleneck, (3, 8, 36, 3))}

    def __init__(self,
                 depth: int = 152,
                 groups: int = 64,
                 width_per_group: int = 4,
                 stem_channels: int = 128,
                 **kwargs) -> None:
        kwargs.setdefault('deep_stem', True)
        super().__init__(
            depth, groups=groups, width_per_group=width_per_group, stem_channels=stem_channels,
            **kwargs)

    def make_res_layer(self, **kwargs) -> nn.Sequential:
        layer = super().make_res_layer(**kwargs)
        downsample = layer[0].downsample
        for i, module in enumerate(downsample or ()):
            if isinstance(module, nn.Conv2d) and module.stride != (1, 1):
                downsample[i] = build_conv_layer(
                    self.conv_cfg,
                    module.in_channels,
                    module.out_channels,
                    kernel_size=3,
                    stride=module.stride,
                    padding=1,
                    bias=False)
        return layer
