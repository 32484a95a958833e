import warnings
from typing import Optional

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmpretrain.models.backbones import VGG

from se_plugins.registry import MODELS
from se_plugins.utils import check_choice

from .se_options import SEOptionsMixin


@MODELS.register_module()
class SEVGG(SEOptionsMixin, VGG):
    """SE-VGG (the paper's Table 2, VGG-16 with BN): mmpretrain's VGG with an SE block on the output
    of every conv layer (conv, BN, ReLU). VGG has no residual branch, so each conv is the
    transformation ``F_tr`` of the paper's Fig. 1, and SE follows each of them: for VGG-16 that
    reproduces the paper's 15.47 -> 15.48 GFLOPs.

    The SE blocks sit beside ``features`` (``se.<index of the conv in features>``), so with
    ``with_se=False`` the state dict is mmpretrain's VGG's, and timm's and torchvision's ``vgg16_bn``
    convert into it (``tools/model_converters/se_convert.py``).

    Args:
        depth: 11, 13, 16 (the paper's) or 19.
        norm_cfg: The normalisation after each conv; the paper's VGG-16 has BN (the default here).
        with_se: Build the SE blocks; ``False`` gives mmpretrain's VGG.
        se_ratio, se_squeeze, se_gate, se_divisor: The options of every SE block (:class:`SEOptionsMixin`).
        **kwargs: The other arguments of mmpretrain's VGG (``num_classes`` for its own classifier,
            ``out_indices``, ``frozen_stages``, ``norm_eval``, ...).
    """

    def __init__(self,
                 depth: int,
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 with_se: bool = True,
                 se_ratio: int = 16,
                 se_squeeze: str = 'avg',
                 se_gate: str = 'sigmoid',
                 se_divisor: Optional[int] = None,
                 **kwargs) -> None:
        check_choice(f'depth of {type(self).__name__}', depth, self.arch_settings)
        self._init_se(with_se, se_ratio, se_squeeze, se_gate, se_divisor)
        with warnings.catch_warnings():  # mmpretrain's VGG has conv biases before its BN, as mmcv warns
            warnings.filterwarnings('ignore', 'Unnecessary conv bias', UserWarning)
            super().__init__(depth, norm_cfg=norm_cfg, **kwargs)
        self.se = nn.ModuleDict({
            str(index): self.make_se(layer.conv.out_channels)
            for index, layer in enumerate(self.features) if isinstance(layer, ConvModule)})

    def forward(self, x: torch.Tensor) -> tuple:
        outs = []
        for stage, (start, end) in enumerate(self.range_sub_modules):
            for index in range(start, end):
                x = self.features[index](x)
                if str(index) in self.se:
                    x = self.se[str(index)](x)
            if stage in self.out_indices:
                outs.append(x)
        if self.num_classes > 0:
            outs.append(self.classifier(x.flatten(1)))
        return tuple(outs)

    def _freeze_stages(self) -> None:
        super()._freeze_stages()
        for stage in range(self.frozen_stages):
            for index in range(*self.range_sub_modules[stage]):
                if str(index) in self.se:  # the convs' SE blocks; the max-pool has none
                    self.se[str(index)].eval().requires_grad_(False)
