from se_plugins.registry import MODELS

from .squeeze_excitation import SqueezeExcitation

PLUGIN_POSITIONS = ('after_conv1', 'after_conv2', 'after_conv3')


@MODELS.register_module()
class SEPlugin(SqueezeExcitation):
    """The SE block as an mmcv plugin layer, for any backbone that takes ``plugins``.

    mmdet's ResNet family (``ResNet``, ``ResNetV1d``, ``ResNeXt``, ``Res2Net``, ``RegNet``, ...)
    builds plugin layers with ``mmcv.cnn.build_plugin_layer(cfg, in_channels=...)`` at three
    positions of its ``Bottleneck``; which one gives which of the paper's SE placements:

    ============== =================================================== ==========================
    position       where, in mmdet's ``Bottleneck``                    the paper's placement
    ============== =================================================== ==========================
    after_conv3    after ``norm3``, before the sum with the identity    standard SE (Fig. 3)
    after_conv2    after the 3x3 conv's ``norm2`` and ReLU              SE after the 3x3 (Table 14)
    after_conv1    after the first 1x1 conv's ``norm1`` and ReLU        none (not in the paper)
    ============== =================================================== ==========================

    mmdet's ``BasicBlock`` (ResNet-18/34) takes no plugins. The module is named ``se`` in the
    block, as in :class:`~se_plugins.SEResNet`, so a block's weights have the same names
    (``layer1.0.se.fc1.weight``) in both; a second SE plugin in one block needs a ``postfix``.

    In a config (mmdet scope)::

        backbone=dict(type='ResNet', depth=50, plugins=[dict(
            cfg=dict(type='se_plugins.SEPlugin', ratio=16),
            stages=(True, True, True, True), position='after_conv3')])

    Args:
        in_channels: Channels at the plugin's position (``build_plugin_layer`` passes them).
        **se_options: The options of :class:`SqueezeExcitation`: ``ratio``, ``squeeze_channels``,
            ``divisor``, ``squeeze``, ``gate``, ``bias``.
    """

    _abbr_ = 'se'

    def __init__(self, in_channels: int, **se_options) -> None:
        super().__init__(in_channels, **se_options)
