"""Parameters and FLOPs as the paper counts them, beside its table (Hu et al., Table 2).

The paper's GFLOPs are multiply-adds of one 224x224 forward pass through the convolutions and the
fully connected layers. mmengine's ``FlopAnalyzer`` (fvcore's rules) counts those, and also batch
norm (one per element) and ``adaptive_avg_pool2d`` (the head's global pooling, one per element),
which the paper leaves out. It counts no element-wise work: ReLUs, residual additions, and the SE
block's squeeze (a mean over H x W) and scale (one multiply per element). We report the paper's
count, and beside it BN, pooling and the SE's element-wise work (squeeze + scale, two per element
of each SE input, counted here from the tensor shapes).
"""
import math
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer

from se_plugins.building import build_classifier, build_model, task_scope, without_initialisation
from se_plugins.models.layers import SqueezeExcitation

# What the paper's figures count; other operators go to their own columns.
PAPER_OPERATORS = ('conv', 'linear', 'addmm', 'matmul')
NORM_OPERATORS = ('batch_norm', 'group_norm')
POOL_OPERATORS = ('adaptive_avg_pool2d', 'adaptive_max_pool2d')


@dataclass(frozen=True)
class PaperRow:
    """One model of the paper's complexity table.

    Args:
        name: The paper's name of the model.
        backbone: The backbone config (mmpretrain's ResNet/ResNeXt for the plain networks, ours
            for the SE ones), in the layout the paper's figure was counted with.
        layout: ``caffe`` (the stride-2 on a downsampling block's first 1x1 conv, as in the
            original release of SE-ResNet) or ``pytorch`` (on the 3x3 conv).
        paper_gflops: The paper's figure, or ``None`` where the paper gives none.
        note: Shown instead of a paper figure.
        paper_params: The paper's parameter count in millions, where it gives one.
        feat_channels: Channels of the backbone's last output, for the classifier's linear layer;
            ``None``: the backbone classifies itself (VGG's fully connected layers).
        input_size: Count this row at this input size instead of the table's (Inception-ResNet-v2,
            which the paper trains and evaluates at 299x299).
    """
    name: str
    backbone: dict
    layout: str
    paper_gflops: Optional[float]
    note: str = ''
    paper_params: Optional[float] = None
    feat_channels: Optional[int] = 2048
    input_size: Optional[int] = None


def _rows() -> List[PaperRow]:
    rows = []
    for depth, plain, se in ((50, 3.86, 3.87), (101, 7.58, 7.60), (152, 11.30, 11.32)):
        rows.append(PaperRow(f'ResNet-{depth}', dict(type='mmpretrain.ResNet', depth=depth, style='caffe'),
                             'caffe', plain))
        rows.append(PaperRow(f'SE-ResNet-{depth}', dict(type='se_plugins.SEResNet', depth=depth, style='caffe'),
                             'caffe', se))
    for depth, plain, se in ((50, 4.24, 4.25), (101, 7.99, 8.00)):
        resnext = dict(depth=depth, groups=32, width_per_group=4)
        rows.append(PaperRow(f'ResNeXt-{depth} (32x4d)', dict(type='mmpretrain.ResNeXt', **resnext), 'pytorch', plain))
        rows.append(PaperRow(f'SE-ResNeXt-{depth} (32x4d)', dict(type='se_plugins.SEResNeXt', **resnext), 'pytorch',
                             se))
    rows += [
        PaperRow('VGG-16 (BN)', dict(type='mmpretrain.VGG', depth=16, norm_cfg=dict(type='BN'), num_classes=1000),
                 'mmpretrain', 15.47, feat_channels=None),
        PaperRow('SE-VGG-16 (BN)', dict(type='se_plugins.SEVGG', depth=16, num_classes=1000), 'mmpretrain', 15.48,
                 feat_channels=None),
        PaperRow('BN-Inception', dict(type='se_plugins.SEBNInception', with_se=False), 'pretrainedmodels', 2.03,
                 feat_channels=1024),
        PaperRow('SE-BN-Inception', dict(type='se_plugins.SEBNInception'), 'pretrainedmodels', 2.04,
                 feat_channels=1024),
        PaperRow('Inception-ResNet-v2', dict(type='se_plugins.SEInceptionResNetV2', with_se=False), 'timm', 11.75,
                 feat_channels=1536, input_size=299),
        PaperRow('SE-Inception-ResNet-v2', dict(type='se_plugins.SEInceptionResNetV2'), 'timm', 11.76,
                 feat_channels=1536, input_size=299),
        PaperRow('MobileNet', dict(type='se_plugins.SEMobileNetV1', with_se=False), 'timm', 0.569,
                 paper_params=4.2, feat_channels=1024),
        PaperRow('SE-MobileNet', dict(type='se_plugins.SEMobileNetV1'), 'timm', 0.572, paper_params=4.7,
                 feat_channels=1024),
        PaperRow('ShuffleNet (1x, g=3)', dict(type='mmpretrain.ShuffleNetV1', groups=3), 'mmpretrain', 0.140,
                 paper_params=1.8, feat_channels=960),
        PaperRow('SE-ShuffleNet (1x, g=3)', dict(type='se_plugins.SEShuffleNetV1', groups=3), 'mmpretrain', 0.142,
                 paper_params=2.4, feat_channels=960),
    ]
    rows.append(PaperRow('SENet-154', dict(type='se_plugins.SENet154'), 'pytorch', None,
                         'not in the paper\'s table'))
    rows.append(PaperRow('SE-ResNet-50', dict(type='se_plugins.SEResNet', depth=50), 'pytorch', None,
                         'the paper counts the caffe layout'))
    return rows


# The SE-ResNets of the paper put the stride on the first 1x1 conv (the Caffe release); its
# ResNeXts, like SENet-154, on the grouped 3x3. The other networks are counted in the layout of the
# peer whose weights they load (mmpretrain's VGG and ShuffleNetV1, Cadene's BN-Inception, timm's
# Inception-ResNet-v2 and MobileNet). The last row, SE-ResNet-50 with the stride on the 3x3
# (timm's, mmpretrain's and ours by default), shows what that layout costs.
PAPER_TABLE: Tuple[PaperRow, ...] = tuple(_rows())


@dataclass
class Complexity:
    """What one forward pass of a model costs.

    Args:
        params: Parameters.
        paper_flops: Multiply-adds of convolutions and fully connected layers: the paper's count.
        norm_flops: What ``FlopAnalyzer`` adds for normalisation layers.
        pool_flops: What ``FlopAnalyzer`` adds for ``adaptive_avg_pool2d``: the head's global
            pooling (the SE squeezes are means, which it does not count).
        se_elementwise_flops: The SE blocks' squeeze and scale, two per element of each SE input,
            which ``FlopAnalyzer`` does not count.
        by_operator: ``FlopAnalyzer``'s count per operator.
    """
    params: int
    paper_flops: int
    norm_flops: int
    pool_flops: int
    se_elementwise_flops: int
    by_operator: Dict[str, int]


def measure(model: nn.Module, input_shape: Tuple[int, ...] = (1, 3, 224, 224)) -> Complexity:
    """Count the parameters and FLOPs of ``model`` on one input of ``input_shape``.

    Args:
        model: A module whose ``forward`` takes one image tensor (a backbone or an mmpretrain
            classifier in ``tensor`` mode).
        input_shape: The input tensor's shape.
    """
    model.eval()
    se_inputs = []

    def count_se(module, inputs, output):
        se_inputs.append(math.prod(int(size) for size in inputs[0].shape))

    handles = [m.pool.register_forward_hook(count_se) for m in model.modules() if isinstance(m, SqueezeExcitation)]
    try:
        with torch.no_grad():
            analyzer = FlopAnalyzer(model, torch.zeros(input_shape))
            analyzer.unsupported_ops_warnings(False)
            analyzer.uncalled_modules_warnings(False)
            by_operator = Counter(analyzer.by_operator())
    finally:
        for handle in handles:
            handle.remove()
    # FlopAnalyzer traces the model once: each SE block ran once
    return Complexity(
        params=sum(p.numel() for p in model.parameters()),
        paper_flops=sum(by_operator[op] for op in PAPER_OPERATORS),
        norm_flops=sum(by_operator[op] for op in NORM_OPERATORS),
        pool_flops=sum(by_operator[op] for op in POOL_OPERATORS),
        se_elementwise_flops=2 * sum(se_inputs),
        by_operator=dict(by_operator))


def build_counted_model(cfg) -> Tuple[nn.Module, nn.Module, str]:
    """A config's model (its weights not drawn: the counts do not read them), the part of it whose FLOPs we
    count, and what that part is: a classifier's whole model, or a detector's backbone (its FLOPs at 224x224
    compare with the classification tables)."""
    with without_initialisation():
        model = build_model(cfg)
    if task_scope(cfg) == 'mmdet':
        return model, model.backbone, 'the detector\'s backbone'
    return model, model, 'the classifier'


def _figure(value: float) -> str:
    return f'{value:.2f}' if value >= 1 else f'{value:.3f}'  # as the paper prints them


def paper_table(rows=PAPER_TABLE, input_shape: Tuple[int, ...] = (1, 3, 224, 224)) -> str:
    """The paper's complexity table recounted: one line per row, with the deviation from the paper.

    Args:
        rows: The models, by default :data:`PAPER_TABLE`.
        input_shape: The input shape; the paper's figures are for ``(1, 3, 224, 224)``.
    """
    lines = ['| model | layout | input | params (M) | paper params (M) | GFLOPs | paper GFLOPs | deviation '
             '| + BN | + pooling | + SE element-wise |',
             '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for row in rows:
        shape = (*input_shape[:2], row.input_size, row.input_size) if row.input_size else input_shape
        with without_initialisation():
            model = build_classifier(row.backbone, in_channels=row.feat_channels)
        cost = measure(model, shape)
        gflops = cost.paper_flops / 1e9
        paper = _figure(row.paper_gflops) if row.paper_gflops is not None else row.note
        deviation = (f'{100 * (gflops / row.paper_gflops - 1):+.2f} %' if row.paper_gflops is not None else '')
        paper_params = f'{row.paper_params:g}' if row.paper_params is not None else ''
        digits = 3 if gflops >= 1 else 5  # the mobile networks' deviations need the fourth and fifth
        lines.append(f'| {row.name} | {row.layout} | {shape[2]}x{shape[3]} | {cost.params / 1e6:.2f} | '
                     f'{paper_params} | {gflops:.{digits}f} | {paper} | {deviation} | {cost.norm_flops / 1e9:.3f} | '
                     f'{cost.pool_flops / 1e9:.4f} | {cost.se_elementwise_flops / 1e9:.4f} |')
    return '\n'.join(lines)
