import warnings
from collections import OrderedDict

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule

from se_plugins.registry import MODELS
from se_plugins.utils import InputError

from .staged import SEConcat, StagedSEBackbone

# Each Inception module of BN-Inception (Ioffe & Szegedy, 2015, Fig. 5, as the Caffe model that the
# paper's SE-BN-Inception and Cadene's ``bninception`` port use): input channels, 1x1, 3x3 reduce,
# 3x3, double-3x3 reduce, double-3x3, pooling, pool projection. A module without a 1x1 branch
# downsamples: its 3x3 convs have stride 2 and its max-pool passes the input through.
INCEPTION_MODULES = (
    ('3a', 192, 64, 64, 64, 64, 96, 'avg', 32),
    ('3b', 256, 64, 64, 96, 64, 96, 'avg', 64),
    ('3c', 320, 0, 128, 160, 64, 96, 'max', 0),
    ('4a', 576, 224, 64, 96, 96, 128, 'avg', 128),
    ('4b', 576, 192, 96, 128, 96, 128, 'avg', 128),
    ('4c', 576, 160, 128, 160, 128, 160, 'avg', 128),
    ('4d', 608, 96, 128, 192, 160, 192, 'avg', 128),
    ('4e', 608, 0, 128, 192, 192, 256, 'max', 0),
    ('5a', 1056, 352, 192, 320, 160, 224, 'avg', 128),
    ('5b', 1024, 352, 192, 320, 192, 224, 'max', 128),
)
# The modules of each stage, whose outputs have strides 8, 16 and 32.
STAGES = (('3a', '3b'), ('3c', '4a', '4b', '4c', '4d'), ('4e', '5a', '5b'))


@MODELS.register_module()
class SEBNInception(StagedSEBackbone):
    """SE-BN-Inception (the paper's Table 2): BN-Inception with an SE block on the output of every
    Inception module, the concatenation of its branches (the paper's Fig. 2, SE-Inception).

    The layout is the Caffe BN-Inception that Cadene's ``pretrainedmodels`` ``bninception`` ports:
    convolutions with biases, ceil-mode max-pools, average pools that count the padding; with
    ``with_se=False`` its parameters are that model's, tensor for tensor (converted by
    ``tools/model_converters/se_convert.py``). The paper puts SE on all ten Inception modules, the
    two downsampling ones (3c, 4e) included; that reproduces its 2.03 -> 2.04 GFLOPs.

    Input sides must be multiples of 32 (224, 256, ...): the downsampling modules join a stride-2 conv
    and a ceil-mode max-pool, whose outputs have the same size at those inputs (as in the Caffe model);
    other sizes end in one clear error.

    Stages: 0 = modules 3a-3b (320 channels, stride 8), 1 = 3c-4d (608, stride 16), 2 = 4e-5b
    (1024, stride 32); the stem is the 7x7 and 3x3 convs with their max-pools.

    Args:
        norm_cfg: The normalisation layer of every conv.
        **kwargs: The SE options (``with_se``, ``se_ratio``, ``se_squeeze``, ``se_gate``, ``se_divisor``) and
            ``out_indices`` (default: the last stage), ``frozen_stages``, ``norm_eval``, ``init_cfg``:
            see :class:`StagedSEBackbone`.
    """

    def __init__(self, norm_cfg: dict = dict(type='BN'), **kwargs) -> None:
        super().__init__(**kwargs)
        self.norm_cfg = norm_cfg
        self.stem = nn.Sequential(OrderedDict([
            ('conv1_7x7_s2', self._conv(3, 64, 7, stride=2)),
            ('pool1_3x3_s2', nn.MaxPool2d(3, stride=2, ceil_mode=True)),
            ('conv2_3x3_reduce', self._conv(64, 64, 1)),
            ('conv2_3x3', self._conv(64, 192, 3)),
            ('pool2_3x3_s2', nn.MaxPool2d(3, stride=2, ceil_mode=True)),
        ]))
        modules = {spec[0]: self._inception_module(*spec[1:]) for spec in INCEPTION_MODULES}
        self.stages = nn.ModuleList(
            nn.Sequential(OrderedDict((f'inception_{name}', modules[name]) for name in stage)) for stage in STAGES)
        self._check_stages()

    def forward(self, x: torch.Tensor) -> tuple:
        if x.shape[-1] % 32 or x.shape[-2] % 32:
            raise InputError(f'SEBNInception needs input sides that are multiples of 32 (224, 256, ...), got '
                             f'{x.shape[-2]}x{x.shape[-1]}: its downsampling modules join a stride-2 conv and a '
                             'ceil-mode max-pool, whose sizes agree at those')
        return super().forward(x)

    def _conv(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> ConvModule:
        with warnings.catch_warnings():  # the Caffe model's convs have biases before their BN, as mmcv warns
            warnings.filterwarnings('ignore', 'Unnecessary conv bias', UserWarning)
            return ConvModule(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2,
                              bias=True, norm_cfg=self.norm_cfg)

    def _inception_module(self, in_channels: int, ch1x1: int, ch3x3_reduce: int, ch3x3: int,
                          double_reduce: int, double: int, pool: str, pool_proj: int) -> SEConcat:
        stride = 1 if ch1x1 else 2
        branches = OrderedDict()
        if ch1x1:
            branches['1x1'] = self._conv(in_channels, ch1x1, 1)
        branches['3x3'] = nn.Sequential(OrderedDict([
            ('3x3_reduce', self._conv(in_channels, ch3x3_reduce, 1)),
            ('3x3', self._conv(ch3x3_reduce, ch3x3, 3, stride=stride))]))
        branches['double_3x3'] = nn.Sequential(OrderedDict([
            ('double_3x3_reduce', self._conv(in_channels, double_reduce, 1)),
            ('double_3x3_1', self._conv(double_reduce, double, 3)),
            ('double_3x3_2', self._conv(double, double, 3, stride=stride))]))
        if pool == 'avg':
            pooling = nn.AvgPool2d(3, stride=1, padding=1, ceil_mode=True, count_include_pad=True)
        else:
            pooling = nn.MaxPool2d(3, stride=stride, padding=1 if stride == 1 else 0, ceil_mode=True)
        branches['pool'] = nn.Sequential(OrderedDict(
            [('pool', pooling)] + ([('pool_proj', self._conv(in_channels, pool_proj, 1))] if pool_proj else [])))
        out_channels = ch1x1 + ch3x3 + double + (pool_proj or in_channels)
        return SEConcat(branches, self.make_se(out_channels))
