from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmpretrain.models.backbones.resnet import BasicBlock, Bottleneck, ResNet

from se_plugins.registry import MODELS
from se_plugins.utils import check_choice, check_per_stage

from ..layers import squeezing_through_reads_less
from .se_options import SEOptionsMixin, se_block

SE_PLACEMENTS = ('standard', 'pre', 'post', 'identity', 'after_3x3')
STEM_POOLS = ('pytorch', 'caffe')


class SEBlockMixin:
    """Adds a :class:`SqueezeExcitation` to a residual block, at one of the paper's placements.

    The placements of the paper's integration ablation are ``'standard'`` (on the residual branch, before
    the sum with the identity), ``'pre'`` (before the residual branch), ``'post'`` (after the sum,
    before the final ReLU), ``'identity'`` (on the identity branch, in parallel with the residual
    branch) and ``'after_3x3'`` (inside a bottleneck, after its 3x3 conv).

    Args:
        in_channels: Input channels of the block.
        out_channels: Output channels of the block.
        se_cfg: Keyword arguments of :class:`SqueezeExcitation` (its ``channels`` are set by the
            placement). ``None`` builds the block without SE (``self.se`` is ``nn.Identity``).
        se_placement: Where the SE module sits; one of :data:`SE_PLACEMENTS`.
        branch_relu: Apply a ReLU at the end of the residual branch, before the SE module (the
            SE-ResNet-18/34 of timm's ``legacy_seresnet18/34``).
        **kwargs: Arguments of the mmpretrain block this mixin is combined with.
    """

    se_placements: Sequence[str] = SE_PLACEMENTS
    #: Whether the SE squeezes the last conv's input (:meth:`SqueezeExcitation.squeeze_through`) where that reads
    #: less (:func:`squeezing_through_reads_less`): set by deploy mode where :meth:`can_squeeze_through_last_conv`.
    squeeze_through_last_conv: bool = False

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 se_cfg: Optional[dict] = None,
                 se_placement: str = 'standard',
                 branch_relu: bool = False,
                 **kwargs) -> None:
        super().__init__(in_channels, out_channels, **kwargs)
        self.branch_relu = branch_relu
        check_choice(f'se_placement of {type(self).__name__}', se_placement, self.se_placements)
        self.se_placement = se_placement
        se_channels = {
            'pre': in_channels,
            'after_3x3': self.mid_channels,
        }.get(se_placement, out_channels)
        self.with_se = se_cfg is not None
        self.se = se_block(se_channels, se_cfg)

    def _se_at(self, placement: str) -> bool:
        return self.with_se and self.se_placement == placement

    def residual_head(self, x: torch.Tensor) -> torch.Tensor:
        """The block's residual branch up to the input of its last conv (:attr:`last_conv`), with the SE
        module if it sits there."""
        raise NotImplementedError

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The block's residual branch up to its last conv: without the SE module unless it sits inside
        it, and without the branch's last BN (:attr:`last_norm`)."""
        return self.last_conv(self.residual_head(x))

    @property
    def last_conv(self) -> nn.Module:
        """The conv that ends the residual branch (before :attr:`last_norm`)."""
        raise NotImplementedError

    @property
    def last_norm(self) -> nn.Module:
        """The BN that ends the residual branch."""
        raise NotImplementedError

    def can_squeeze_through_last_conv(self) -> bool:
        """Whether the SE may squeeze the input of the last conv instead of its output, as deploy mode has it
        do (exact, and a bottleneck's last conv has a quarter of the channels at its input): the SE follows the
        last conv directly (placement ``'standard'``, no branch ReLU or drop path, the BN folded into the conv),
        squeezes by average, and the conv is a plain 1x1 ``nn.Conv2d`` of stride 1 without padding or groups,
        with fewer input channels than output channels."""
        conv = self.last_conv
        return (self._se_at('standard') and not self.branch_relu and isinstance(self.drop_path, nn.Identity)
                and isinstance(self.last_norm, nn.Identity) and self.se.squeeze == 'avg' and type(conv) is nn.Conv2d
                and conv.kernel_size == (1, 1) and conv.stride == (1, 1) and conv.padding == (0, 0)
                and conv.groups == 1 and conv.in_channels < conv.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:

        def _inner_forward(x: torch.Tensor) -> torch.Tensor:
            identity = x if self.downsample is None else self.downsample(x)
            if self.squeeze_through_last_conv:
                head = self.residual_head(x)
                branch = self.last_conv(head)
                squeezed = (self.se.squeeze_through(self.last_conv, head)
                            if squeezing_through_reads_less(self.last_conv, head) else None)
                return self.se.scale_add(branch, identity, out=branch, squeezed=squeezed)
            branch = self.residual(self.se(x) if self._se_at('pre') else x)
            no_drop_path = isinstance(self.drop_path, nn.Identity)
            # Where the SE scales one of the two summed branches, scale and sum are one pass over the
            # feature map (and, in training, one autograd function, with the branch's last BN when the
            # SE follows it directly: SqueezeExcitation.scale_add).
            if self._se_at('standard') and no_drop_path and not self.branch_relu:
                return self.se.scale_add(branch, identity, norm=self.last_norm, out=branch)
            out = self.last_norm(branch)
            if self.branch_relu:
                out = self.relu(out)
            if self._se_at('standard') and no_drop_path:
                out = self.se.scale_add(out, identity, out=out)
            elif self._se_at('identity') and no_drop_path:
                out = self.se.scale_add(identity, out, out=out)
            else:
                if self._se_at('standard'):
                    out = self.se(out)
                elif self._se_at('identity'):
                    identity = self.se(identity)
                out = self.drop_path(out)
                # in place, as mmpretrain's blocks sum, unless a ReLU kept ``out`` for its backward
                out = out + identity if self.branch_relu else out.add_(identity)
            if self._se_at('post'):
                out = self.se(out)
            return out

        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(_inner_forward, x, use_reentrant=False)
        else:
            out = _inner_forward(x)
        return self.relu(out)


class SEBasicBlock(SEBlockMixin, BasicBlock):
    """mmpretrain's BasicBlock with an SE module (see :class:`SEBlockMixin`)."""

    se_placements = tuple(p for p in SE_PLACEMENTS if p != 'after_3x3')

    def residual_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.norm1(self.conv1(x)))

    @property
    def last_conv(self) -> nn.Module:
        return self.conv2

    @property
    def last_norm(self) -> nn.Module:
        return self.norm2


class SEBottleneck(SEBlockMixin, Bottleneck):
    """mmpretrain's Bottleneck with an SE module (see :class:`SEBlockMixin`)."""

    def residual_head(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.relu(self.norm2(self.conv2(out)))
        return self.se(out) if self._se_at('after_3x3') else out

    @property
    def last_conv(self) -> nn.Module:
        return self.conv3

    @property
    def last_norm(self) -> nn.Module:
        return self.norm3


@MODELS.register_module()
class SEResNet(SEOptionsMixin, ResNet):
    """SE-ResNet backbone: mmpretrain's ResNet with SE modules in its residual blocks.

    All of mmpretrain's ResNet arguments apply (``out_indices``, ``frozen_stages``, ``norm_eval``,
    ``norm_cfg``, ``with_cp``, ``zero_init_residual``, ``style``, ``deep_stem``, ``drop_path_rate``,
    ``init_cfg``...). ``style='caffe'`` puts the stride on the first 1x1 conv, as the original
    SE-ResNet release does.

    Args:
        depth: 18, 34, 50, 101 or 152.
        with_se: Build the SE modules; ``False`` gives mmpretrain's ResNet, tensor for tensor.
        se_placement: Where the SE module sits in each block: ``'standard'``, ``'pre'``,
            ``'post'``, ``'identity'`` or ``'after_3x3'`` (bottleneck blocks only).
        se_stages: One bool per stage: whether its blocks have SE. Default: all stages.
        se_ratio, se_squeeze, se_gate, se_divisor: The options of every SE block (:class:`SEOptionsMixin`).
        stem_pool: ``'pytorch'``: max-pool 3/2 with padding 1; ``'caffe'``: max-pool 3/2 with
            ``ceil_mode`` and no padding, as in the original release and Cadene's ports.
        branch_relu: Apply a ReLU at the end of each residual branch, before the SE module, as
            timm's ``legacy_seresnet18/34`` do.
        **kwargs: Arguments of mmpretrain's ``ResNet``.
    """

    arch_settings = {
        18: (SEBasicBlock, (2, 2, 2, 2)),
        34: (SEBasicBlock, (3, 4, 6, 3)),
        50: (SEBottleneck, (3, 4, 6, 3)),
        101: (SEBottleneck, (3, 4, 23, 3)),
        152: (SEBottleneck, (3, 8, 36, 3)),
    }

    def __init__(self,
                 depth: int,
                 with_se: bool = True,
                 se_ratio: int = 16,
                 se_placement: str = 'standard',
                 se_stages: Optional[Sequence[bool]] = None,
                 se_squeeze: str = 'avg',
                 se_gate: str = 'sigmoid',
                 se_divisor: Optional[int] = None,
                 stem_pool: str = 'pytorch',
                 branch_relu: bool = False,
                 **kwargs) -> None:
        # Checked here, before anything is built; the blocks check se_placement (which depends on the block).
        check_choice(f'depth of {type(self).__name__}', depth, self.arch_settings)
        check_choice('stem_pool', stem_pool, STEM_POOLS)
        self._init_se(with_se, se_ratio, se_squeeze, se_gate, se_divisor)
        num_stages = kwargs.get('num_stages', 4)
        self.se_stages = check_per_stage('se_stages', (True, ) * num_stages if se_stages is None else se_stages,
                                         num_stages)
        self.se_placement = se_placement
        self.stem_pool = stem_pool
        self.branch_relu = branch_relu
        super().__init__(depth, **kwargs)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        super()._make_stem_layer(in_channels, stem_channels)
        if self.stem_pool == 'caffe':
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=0, ceil_mode=True)

    def fuse(self, channels_last: bool = True) -> nn.Module:
        """Deploy mode (:meth:`~se_plugins.models.backbones.deploy.DeployMixin.fuse`), in which each block
        whose SE follows a 1x1 last conv squeezes that conv's input where that reads less
        (:meth:`SEBlockMixin.can_squeeze_through_last_conv`, :func:`squeezing_through_reads_less`).

        Args:
            channels_last: Store the convolutions' weights channels-last (see ``DeployMixin.fuse``).

        Returns:
            This backbone, fused: its outputs equal the unfused model's in eval mode, to float rounding.
        """
        super().fuse(channels_last)
        for block in self.modules():
            if isinstance(block, SEBlockMixin):
                block.squeeze_through_last_conv = block.can_squeeze_through_last_conv()
        return self

    def make_res_layer(self, **kwargs) -> nn.Sequential:
        # ResNet.__init__ appends each stage's name to self.res_layers after building it, so its
        # length is the index of the stage being built.
        stage = len(self.res_layers)
        se_cfg = self.se_cfg if self.se_stages[stage] else None
        return super().make_res_layer(
            se_cfg=se_cfg, se_placement=self.se_placement, branch_relu=self.branch_relu, **kwargs)
