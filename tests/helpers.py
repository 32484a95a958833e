"""What several test modules share: the repository's paths and a toy model and dataset for mmengine runs.

``tests/`` is on ``sys.path`` (pytest puts a conftest's folder there), so tests import this as ``helpers``.
"""
import glob
import os.path as osp
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from torch.utils.data import Dataset

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# Every config a user runs (the _base_ fragments are not), relative to the repository.
CONFIGS = sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)
# The paper's networks beyond the ResNets, by registered name: (build arguments, number of SE blocks, output
# channels per stage, input size for the tests).
NETWORKS = {
    'SEVGG': (dict(depth=16), 13, (64, 128, 256, 512, 512), 64),
    'SEBNInception': (dict(), 10, (320, 608, 1024), 64),
    'SEInceptionResNetV2': (dict(), 40, (320, 1088, 1536), 96),
    'SEMobileNetV1': (dict(), 13, (64, 128, 256, 512, 1024), 64),
    'SEShuffleNetV1': (dict(groups=3), 16, (240, 480, 960), 64),
}


class ToyModel(BaseModel):
    """A linear layer on 2-vectors. In ``loss`` mode: the squared error to ``labels`` where the batch has
    them, else two terms, ``loss_cls`` and ``loss_reg``; in ``predict`` mode: one score per input.

    Args:
        nan_at: The forward call whose ``loss_cls`` is NaN (``None``: none is).
    """

    def __init__(self, nan_at: Optional[int] = None) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.nan_at = nan_at
        self.calls = 0

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        if mode == 'predict':
            return [dict(score=float(v)) for v in out.flatten()]
        if mode != 'loss':
            return out
        if labels is not None:
            return dict(loss=(out - torch.stack(labels)).pow(2).mean())
        self.calls += 1
        scale = float('nan') if self.calls == self.nan_at else 1.0
        return dict(loss_cls=out.pow(2).mean() * scale, loss_reg=out.abs().mean())


class ToyDataset(Dataset):
    """``length`` items ``dict(inputs=(i, i))``, with ``labels=(1,)`` if ``labels``."""

    def __init__(self, length: int = 8, labels: bool = False) -> None:
        self.length = length
        self.labels = labels

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        item = dict(inputs=torch.full((2, ), float(index)))
        if self.labels:
            item['labels'] = torch.ones(1)
        return item


def randomise_bn(model: nn.Module) -> None:
    """Give every BN of ``model`` random running statistics and affine parameters (as a trained model has
    them), so that folding them into the convs is visible in the outputs."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
