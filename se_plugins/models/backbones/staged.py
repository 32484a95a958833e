"""What the paper's non-ResNet SE networks share: a stem followed by stages."""
from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm
from mmpretrain.models.backbones.base_backbone import BaseBackbone

from se_plugins.utils import InputError

from .se_options import SEOptionsMixin


class StagedSEBackbone(SEOptionsMixin, BaseBackbone):
    """A stem (``self.stem``) and stages (``self.stages``), with the SE options (:class:`SEOptionsMixin`) and
    mmpretrain's backbone options.

    Subclasses call ``super().__init__(**kwargs)``, then build ``self.stem`` and ``self.stages`` (one
    module per stage) with :meth:`make_se` for their SE blocks, then call :meth:`_check_stages`.

    Args:
        with_se: Build the SE blocks; ``False`` gives the plain network.
        se_ratio, se_squeeze, se_gate, se_divisor: The options of every SE block (:class:`SEOptionsMixin`).
        out_indices: The stages whose outputs :meth:`forward` returns (``-1``: the last).
        frozen_stages: Stages to freeze (parameters and BN statistics): ``-1`` none, ``0`` the stem,
            ``k`` the stem and the first ``k`` stages.
        norm_eval: Keep every BN layer in eval mode while training (frozen statistics).
        init_cfg: mmengine's initialisation config.
    """

    def __init__(self,
                 with_se: bool = True,
                 se_ratio: int = 16,
                 se_squeeze: str = 'avg',
                 se_gate: str = 'sigmoid',
                 se_divisor: Optional[int] = None,
                 out_indices: Sequence[int] = (-1, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        self._init_se(with_se, se_ratio, se_squeeze, se_gate, se_divisor)
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

    def _check_stages(self) -> None:
        num_stages = len(self.stages)
        name = type(self).__name__
        for index in self.out_indices:
            if not isinstance(index, int) or not -num_stages <= index < num_stages:
                raise InputError(f'out_indices of {name}: {index!r} is not a stage index (0 to {num_stages - 1})')
        self.out_indices = tuple(index % num_stages for index in self.out_indices)
        if not isinstance(self.frozen_stages, int) or not -1 <= self.frozen_stages <= num_stages:
            raise InputError(f'frozen_stages of {name} must be -1 to {num_stages}, got {self.frozen_stages!r}')

    def forward(self, x: torch.Tensor) -> tuple:
        x = self.stem(x)
        outs = []
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if index in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _frozen_modules(self) -> list:
        if self.frozen_stages < 0:
            return []
        return [self.stem, *self.stages[:self.frozen_stages]]

    def train(self, mode: bool = True) -> 'StagedSEBackbone':
        super().train(mode)
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self


class SEConcat(BaseModule):
    """Branches applied to one input, concatenated along the channels, then an SE block on the whole
    output: the SE-Inception module of the paper's Fig. 2 (and, with ``nn.Identity``, a plain Inception
    module).

    Args:
        branches: The branches by name, in the order of their channels in the output.
        se: The SE block on the concatenation (``nn.Identity`` for the plain module).
        nested: Keep the branches under ``branches.<name>`` (a ``ModuleDict``); ``False`` makes them the
            module's own children (``<name>``), the state-dict layout of timm's Inception modules.
    """

    def __init__(self, branches: Dict[str, nn.Module], se: nn.Module, nested: bool = True) -> None:
        super().__init__()
        if nested:
            self.branches = nn.ModuleDict(branches)
        else:
            for name, branch in branches.items():
                self.add_module(name, branch)
        self._branch_names = list(branches)
        self._nested = nested
        self.se = se

    def concat(self, x: torch.Tensor) -> torch.Tensor:
        """The branches' outputs concatenated along the channels."""
        owner = self.branches if self._nested else self
        return torch.cat([getattr(owner, name)(x) for name in self._branch_names], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.concat(x))
