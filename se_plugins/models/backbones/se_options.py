"""The SE options every se_plugins backbone takes, and the one way its blocks build their SE."""
from typing import Optional

import torch.nn as nn

from se_plugins.utils import check_positive_int

from ..layers import SqueezeExcitation, check_se_options
from .deploy import DeployMixin


def se_block(channels: int, se_cfg: Optional[dict]) -> nn.Module:
    """An SE block on ``channels`` channels with the options ``se_cfg`` (keyword arguments of
    :class:`SqueezeExcitation`), or, where ``se_cfg`` is ``None`` (no SE), ``nn.Identity``: no parameters, no
    cost, and the plain network's state dict is its peer's."""
    return nn.Identity() if se_cfg is None else SqueezeExcitation(channels, **se_cfg)


class SEOptionsMixin(DeployMixin):
    """The SE arguments of every se_plugins backbone, checked before anything is built; ``train()`` that
    returns the backbone (mmpretrain's backbones return ``None``); deploy mode
    (:meth:`~se_plugins.models.backbones.deploy.DeployMixin.fuse`).

    A backbone calls :meth:`_init_se` with its arguments before it builds its blocks, then builds each SE
    with :meth:`make_se` (or passes :attr:`se_cfg` to its blocks, which call :func:`se_block`):

    - ``with_se``: build the SE blocks; ``False`` gives the plain network (``se_cfg`` is ``None``, every SE
      is ``nn.Identity``);
    - ``se_ratio``: the reduction ratio ``r`` of every SE block;
    - ``se_squeeze``: ``'avg'`` (the paper's), ``'max'`` or ``'avgmax'``;
    - ``se_gate``: the excitation gate, a name in :data:`~se_plugins.models.layers.gates.GATES` (the paper's
      ``'sigmoid'``);
    - ``se_divisor``: round each SE's width ``C / r`` to a multiple of this (timm's ``seresnet*`` use 8);
      ``None``: the paper's ``C // r``.
    """

    def _init_se(self,
                 with_se: bool = True,
                 se_ratio: int = 16,
                 se_squeeze: str = 'avg',
                 se_gate: str = 'sigmoid',
                 se_divisor: Optional[int] = None) -> None:
        check_se_options(se_ratio, se_squeeze, se_gate, prefix='se_')
        if se_divisor is not None:
            check_positive_int('se_divisor', se_divisor)
        self.with_se = with_se
        self.se_cfg = dict(ratio=se_ratio, divisor=se_divisor, squeeze=se_squeeze, gate=se_gate) if with_se else None

    def make_se(self, channels: int) -> nn.Module:
        """An SE block on ``channels`` channels with this backbone's options (:func:`se_block`)."""
        return se_block(channels, self.se_cfg)

    def train(self, mode: bool = True) -> nn.Module:
        super().train(mode)
        return self
