from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule

from se_plugins.registry import MODELS

from .staged import SEConcat, StagedSEBackbone


class InceptionResNetBlock(SEConcat):
    """An Inception-ResNet module (Szegedy et al., 2017, Figs. 16-19): branches concatenated, a 1x1
    conv back to the input width, then ``x + scale * branch`` and a ReLU. The SE block acts on the
    residual branch before the scaling and the sum, as in SE-ResNet (the paper's Fig. 3).

    Args:
        branches: The branches (named ``branch0``, ``branch1``, ... as in timm).
        channels: The input (and output) channels.
        scale: The residual branch's scale (0.17, 0.10, 0.20 in the three block types).
        se: The SE block on the residual branch (``nn.Identity`` for the plain module).
        with_relu: The ReLU after the sum (the last block of the network has none).
    """

    def __init__(self, branches: Sequence[nn.Module], channels: int, scale: float, se: nn.Module,
                 with_relu: bool = True) -> None:
        super().__init__(_timm_names(branches), se, nested=False)
        concat_channels = sum(_out_channels(branch) for branch in branches)
        self.conv2d = nn.Conv2d(concat_channels, channels, kernel_size=1)
        self.scale = scale
        self.relu = nn.ReLU() if with_relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.se(self.conv2d(self.concat(x)))
        return self.relu(torch.add(x, out, alpha=self.scale))


def _mixed(branches: Sequence[nn.Module]) -> SEConcat:
    """The stem's last module and the two reduction modules: branches concatenated, no SE."""
    return SEConcat(_timm_names(branches), nn.Identity(), nested=False)


def _timm_names(branches: Sequence[nn.Module]) -> dict:
    return {f'branch{index}': branch for index, branch in enumerate(branches)}


def _out_channels(branch: nn.Module) -> int:
    return [m for m in branch.modules() if isinstance(m, nn.Conv2d)][-1].out_channels


@MODELS.register_module()
class SEInceptionResNetV2(StagedSEBackbone):
    """SE-Inception-ResNet-v2 (the paper's Table 2): Inception-ResNet-v2 with an SE block on the
    residual branch of each of its 40 Inception-ResNet modules (10 x A, 20 x B, 10 x C), before the
    scaling and the sum with the identity, as SE-ResNet places it. The stem and the reduction modules
    have none.

    The layout is timm's ``inception_resnet_v2`` (TF-slim's): unpadded convs with BN (eps 1e-3), and
    the modules keep timm's names, so with ``with_se=False`` a timm state dict loads key for key
    (through ``tools/model_converters/se_convert.py``). The paper trains it on 299x299 crops.

    Stages: 0 = Mixed-5b and 10 x Block A (320 channels, stride 8), 1 = Mixed-6a and 20 x Block B
    (1088, stride 16), 2 = Mixed-7a, 10 x Block C and the 1x1 conv to 1536 channels (stride 32).

    Args:
        norm_cfg: The normalisation layer of every conv.
        **kwargs: The SE options (``with_se``, ``se_ratio``, ``se_squeeze``, ``se_gate``, ``se_divisor``) and
            ``out_indices`` (default: the last stage), ``frozen_stages``, ``norm_eval``, ``init_cfg``:
            see :class:`StagedSEBackbone`.
    """

    def __init__(self, norm_cfg: dict = dict(type='BN', eps=1e-3), **kwargs) -> None:
        super().__init__(**kwargs)
        self.norm_cfg = norm_cfg
        conv = self._conv
        self.stem = nn.Sequential(OrderedDict([
            ('conv2d_1a', conv(3, 32, 3, stride=2)),
            ('conv2d_2a', conv(32, 32, 3)),
            ('conv2d_2b', conv(32, 64, 3, padding=1)),
            ('maxpool_3a', nn.MaxPool2d(3, stride=2)),
            ('conv2d_3b', conv(64, 80, 1)),
            ('conv2d_4a', conv(80, 192, 3)),
            ('maxpool_5a', nn.MaxPool2d(3, stride=2)),
        ]))
        mixed_5b = _mixed([
            conv(192, 96, 1),
            nn.Sequential(conv(192, 48, 1), conv(48, 64, 5, padding=2)),
            nn.Sequential(conv(192, 64, 1), conv(64, 96, 3, padding=1), conv(96, 96, 3, padding=1)),
            nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), conv(192, 64, 1)),
        ])
        mixed_6a = _mixed([
            conv(320, 384, 3, stride=2),
            nn.Sequential(conv(320, 256, 1), conv(256, 256, 3, padding=1), conv(256, 384, 3, stride=2)),
            nn.MaxPool2d(3, stride=2),
        ])
        mixed_7a = _mixed([
            nn.Sequential(conv(1088, 256, 1), conv(256, 384, 3, stride=2)),
            nn.Sequential(conv(1088, 256, 1), conv(256, 288, 3, stride=2)),
            nn.Sequential(conv(1088, 256, 1), conv(256, 288, 3, padding=1), conv(288, 320, 3, stride=2)),
            nn.MaxPool2d(3, stride=2),
        ])
        self.stages = nn.ModuleList([
            nn.Sequential(OrderedDict([
                ('mixed_5b', mixed_5b),
                ('repeat', nn.Sequential(*[self._block_a() for _ in range(10)]))])),
            nn.Sequential(OrderedDict([
                ('mixed_6a', mixed_6a),
                ('repeat_1', nn.Sequential(*[self._block_b() for _ in range(20)]))])),
            nn.Sequential(OrderedDict([
                ('mixed_7a', mixed_7a),
                ('repeat_2', nn.Sequential(*[self._block_c(0.20) for _ in range(9)])),
                ('block8', self._block_c(1.0, with_relu=False)),
                ('conv2d_7b', conv(2080, 1536, 1))])),
        ])
        self._check_stages()

    def _conv(self, in_channels: int, out_channels: int, kernel_size, stride: int = 1, padding=0) -> ConvModule:
        return ConvModule(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                          norm_cfg=self.norm_cfg)

    def _block_a(self) -> InceptionResNetBlock:  # timm's Block35
        conv = self._conv
        return InceptionResNetBlock([
            conv(320, 32, 1),
            nn.Sequential(conv(320, 32, 1), conv(32, 32, 3, padding=1)),
            nn.Sequential(conv(320, 32, 1), conv(32, 48, 3, padding=1), conv(48, 64, 3, padding=1)),
        ], 320, 0.17, self.make_se(320))

    def _block_b(self) -> InceptionResNetBlock:  # timm's Block17
        conv = self._conv
        return InceptionResNetBlock([
            conv(1088, 192, 1),
            nn.Sequential(conv(1088, 128, 1), conv(128, 160, (1, 7), padding=(0, 3)),
                          conv(160, 192, (7, 1), padding=(3, 0))),
        ], 1088, 0.10, self.make_se(1088))

    def _block_c(self, scale: float, with_relu: bool = True) -> InceptionResNetBlock:  # timm's Block8
        conv = self._conv
        return InceptionResNetBlock([
            conv(2080, 192, 1),
            nn.Sequential(conv(2080, 192, 1), conv(192, 224, (1, 3), padding=(0, 1)),
                          conv(224, 256, (3, 1), padding=(1, 0))),
        ], 2080, scale, self.make_se(2080), with_relu=with_relu)
