import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmpretrain.models.utils import make_divisible

from se_plugins.registry import MODELS
from se_plugins.utils import InputError

from .staged import StagedSEBackbone

# MobileNet v1 (Howard et al., 2017, Table 1): per stage, (output channels, blocks, stride of the first).
STAGE_SETTINGS = ((64, 1, 1), (128, 2, 2), (256, 2, 2), (512, 6, 2), (1024, 2, 2))


class DepthwiseSeparable(BaseModule):
    """A depthwise 3x3 conv and a pointwise 1x1 conv, each with BN and ReLU6, then an SE block on the
    block's output.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        stride: Stride of the depthwise conv.
        se: The SE block on the output (``nn.Identity`` for the plain block).
        norm_cfg: The normalisation layers.
        act_cfg: The activations.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, se: nn.Module, norm_cfg: dict,
                 act_cfg: dict) -> None:
        super().__init__()
        self.conv_dw = ConvModule(in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels,
                                  norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv_pw = ConvModule(in_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.se = se

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.conv_pw(self.conv_dw(x)))


@MODELS.register_module()
class SEMobileNetV1(StagedSEBackbone):
    """SE-MobileNet (the paper's Table 3): MobileNet v1 with an SE block (r = 16) on the output of
    each of its 13 depthwise-separable blocks.

    The layout is timm's ``mobilenetv1_100`` (BN and ReLU6 after every conv, no biases); with
    ``with_se=False`` and ``widen_factor=1.0`` its parameters are that model's, tensor for tensor
    (converted by ``tools/model_converters/se_convert.py``). With the 1000-way classifier: 4.23 M
    parameters, 4.72 M with SE (the paper: 4.2 and 4.7).

    Stages follow the network's resolutions: 0 = the stride-1 block (64 channels, stride 2),
    1-4 = the blocks of strides 4, 8, 16, 32 (128, 256, 512, 1024 channels at ``widen_factor=1``).

    Args:
        widen_factor: The width multiplier ``alpha`` of every layer (channels rounded to multiples of 8).
        norm_cfg: The normalisation layers.
        act_cfg: The activations.
        **kwargs: The SE options (``with_se``, ``se_ratio``, ``se_squeeze``, ``se_gate``, ``se_divisor``) and
            ``out_indices`` (default: the last stage), ``frozen_stages``, ``norm_eval``, ``init_cfg``:
            see :class:`StagedSEBackbone`.
    """

    def __init__(self,
                 widen_factor: float = 1.0,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU6'),
                 **kwargs) -> None:
        if isinstance(widen_factor, bool) or not isinstance(widen_factor, (int, float)) or widen_factor <= 0:
            raise InputError(f'widen_factor of SEMobileNetV1 must be a positive number, got {widen_factor!r}')
        super().__init__(**kwargs)
        in_channels = make_divisible(32 * widen_factor, 8)
        self.stem = ConvModule(3, in_channels, 3, stride=2, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.stages = nn.ModuleList()
        for channels, num_blocks, stride in STAGE_SETTINGS:
            out_channels = make_divisible(channels * widen_factor, 8)
            blocks = []
            for index in range(num_blocks):
                blocks.append(DepthwiseSeparable(in_channels, out_channels, stride if index == 0 else 1,
                                                 self.make_se(out_channels), norm_cfg, act_cfg))
                in_channels = out_channels
            self.stages.append(nn.Sequential(*blocks))
        self.out_channels = in_channels
        self._check_stages()
