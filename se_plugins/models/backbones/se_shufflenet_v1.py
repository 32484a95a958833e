from typing import Optional

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmpretrain.models.backbones.shufflenet_v1 import ShuffleNetV1, ShuffleUnit
from mmpretrain.models.utils import channel_shuffle

from se_plugins.registry import MODELS
from se_plugins.utils import check_choice

from .se_options import SEOptionsMixin, se_block

GROUPS = (1, 2, 3, 4, 8)


class SEShuffleUnit(ShuffleUnit):
    """mmpretrain's ShuffleNet unit with an SE block on its residual branch: after the last grouped 1x1
    conv and its BN, before the sum with the input (or, in a unit that downsamples, the
    concatenation with the pooled input), as SE-ResNet places it.

    Args:
        se_cfg: Keyword arguments of :class:`SqueezeExcitation`; ``None`` builds mmpretrain's unit.
        **kwargs: The arguments of mmpretrain's ``ShuffleUnit``.
    """

    def __init__(self, in_channels: int, out_channels: int, se_cfg: Optional[dict] = None, **kwargs) -> None:
        super().__init__(in_channels, out_channels, **kwargs)
        # out_channels is now the branch's width (less the input's where the unit concatenates)
        self.se = se_block(self.out_channels, se_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:

        def _inner_forward(x):
            out = self.g_conv_1x1_compress(x)
            out = self.depthwise_conv3x3_bn(out)
            if self.groups > 1:
                out = channel_shuffle(out, self.groups)
            out = self.se(self.g_conv_1x1_expand(out))
            if self.combine == 'concat':
                return self._combine_func(self.avgpool(x), self.act(out))
            return self.act(self._combine_func(x, out))

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(_inner_forward, x, use_reentrant=False)
        return _inner_forward(x)


@MODELS.register_module()
class SEShuffleNetV1(SEOptionsMixin, ShuffleNetV1):
    """SE-ShuffleNet (the paper's Table 3): mmpretrain's ShuffleNetV1 with an SE block in each of its
    16 units (:class:`SEShuffleUnit`). The paper's is ShuffleNet 1x (g = 3): 1.87 M parameters with
    the 1000-way classifier, 2.48 M with SE (the paper: 1.8 and 2.4).

    With ``with_se=False`` it is mmpretrain's ShuffleNetV1, tensor for tensor.

    Args:
        groups: Groups of the 1x1 convs: 1, 2, 3 (the paper's), 4 or 8.
        with_se: Build the SE blocks; ``False`` gives mmpretrain's ShuffleNetV1.
        se_ratio, se_squeeze, se_gate, se_divisor: The options of every SE block (:class:`SEOptionsMixin`).
        **kwargs: The other arguments of mmpretrain's ShuffleNetV1 (``widen_factor``, ``out_indices``,
            ``frozen_stages``, ``norm_eval``, ``with_cp``, ...).
    """

    def __init__(self,
                 groups: int = 3,
                 with_se: bool = True,
                 se_ratio: int = 16,
                 se_squeeze: str = 'avg',
                 se_gate: str = 'sigmoid',
                 se_divisor: Optional[int] = None,
                 **kwargs) -> None:
        check_choice('groups of SEShuffleNetV1', groups, GROUPS)
        self._init_se(with_se, se_ratio, se_squeeze, se_gate, se_divisor)
        super().__init__(groups=groups, **kwargs)

    def make_layer(self, out_channels: int, num_blocks: int, first_block: bool = False) -> nn.Sequential:
        units = []
        for index in range(num_blocks):
            units.append(SEShuffleUnit(
                self.in_channels, out_channels, se_cfg=self.se_cfg, groups=self.groups,
                first_block=first_block and index == 0, combine='concat' if index == 0 else 'add',
                conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg, with_cp=self.with_cp))
            self.in_channels = out_channels
        return nn.Sequential(*units)

    def _freeze_stages(self) -> None:
        super()._freeze_stages()
        if self.frozen_stages >= 0:
            self.conv1.eval()  # mmpretrain's freezes the stem's parameters, not its BN statistics
