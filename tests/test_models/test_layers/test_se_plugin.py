"""SEPlugin: the paper's SE block in mmdet's ResNet family through mmcv's plugin mechanism."""
import torch
from mmcv.cnn import build_plugin_layer
from mmdet.registry import MODELS as MMDET_MODELS

from se_plugins.building import in_scope
from se_plugins.models.layers import SEPlugin, SqueezeExcitation
from se_plugins.registry import MODELS

from helpers import count_parameters, randomise_bn


def se_plugins(position: str = 'after_conv3', stages=(True, True, True, True), **cfg) -> list:
    return [dict(cfg=dict(type='se_plugins.SEPlugin', **cfg), stages=stages, position=position)]


def build_mmdet(**cfg):
    with in_scope('mmdet'):
        return MMDET_MODELS.build(cfg)


def assert_same_network(ours, theirs, input_size=64):
    """Equal parameter counts, the same tensor names, and equal outputs with ours' weights copied."""
    assert count_parameters(theirs) == count_parameters(ours)
    theirs.load_state_dict(ours.state_dict(), strict=True)  # strict: every name and shape matches
    ours.eval(), theirs.eval()
    x = torch.randn(2, 3, input_size, input_size)
    with torch.no_grad():
        for a, b in zip(ours(x), theirs(x), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_build_plugin_layer_builds_it_from_an_mmdet_scope():
    with in_scope('mmdet'):
        name, layer = build_plugin_layer(dict(type='se_plugins.SEPlugin', ratio=8, gate='hsigmoid'),
                                         in_channels=64)
    assert name == 'se' and type(layer) is SEPlugin and isinstance(layer, SqueezeExcitation)
    assert (layer.channels, layer.squeeze_channels, type(layer.gate)) == (64, 8, torch.nn.Hardsigmoid)


def test_mmdet_resnet50_with_se_after_conv3_is_se_resnet50():
    ours = randomise_bn(MODELS.build(dict(type='SEResNet', depth=50, out_indices=(0, 1, 2, 3))))
    theirs = build_mmdet(type='ResNet', depth=50, out_indices=(0, 1, 2, 3), plugins=se_plugins())
    assert_same_network(ours, theirs)


def test_mmdet_resnext101_with_se_after_conv3_is_se_resnext101():
    ours = randomise_bn(MODELS.build(dict(type='SEResNeXt', depth=101, groups=32, width_per_group=4,
                                          out_indices=(0, 1, 2, 3))))
    theirs = build_mmdet(type='ResNeXt', depth=101, groups=32, base_width=4, out_indices=(0, 1, 2, 3),
                         plugins=se_plugins())
    assert_same_network(ours, theirs, input_size=32)


def test_after_conv2_is_the_papers_se_after_the_3x3():
    ours = randomise_bn(MODELS.build(dict(type='SEResNet', depth=50, se_placement='after_3x3', se_ratio=4,
                                          out_indices=(0, 1, 2, 3))))
    theirs = build_mmdet(type='ResNet', depth=50, out_indices=(0, 1, 2, 3),
                         plugins=se_plugins('after_conv2', ratio=4))
    assert_same_network(ours, theirs)


def test_stages_and_options_reach_the_plugins():
    theirs = build_mmdet(type='ResNet', depth=50, plugins=se_plugins(
        stages=(False, True, False, True), ratio=8, squeeze='max', gate='tanh', divisor=8))
    with_se = [i for i in range(1, 5) if hasattr(getattr(theirs, f'layer{i}')[0], 'se')]
    assert with_se == [2, 4]
    se = theirs.layer2[0].se
    assert (se.channels, se.squeeze_channels, se.squeeze, type(se.gate)) == (512, 64, 'max', torch.nn.Tanh)


def test_regnet_takes_se_after_its_group_conv():
    regnet = build_mmdet(type='RegNet', arch='regnetx_400mf', out_indices=(0, 1, 2, 3),
                         plugins=se_plugins('after_conv2', ratio=4))
    widths = [getattr(regnet, f'layer{i}')[-1].se.channels for i in range(1, 5)]
    assert widths == [32, 64, 160, 384]
    assert [getattr(regnet, f'layer{i}')[-1].se.squeeze_channels for i in range(1, 5)] == [8, 16, 40, 96]
    outs = regnet(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == widths
