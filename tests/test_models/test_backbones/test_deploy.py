"""Deploy mode (BN folded into the convs, channels-last weights) keeps every backbone's outputs; the SE's
fused training form is tested in tests/test_models/test_layers/test_fused_se.py."""
import pytest
import torch
import torch.nn as nn

from se_plugins.models.backbones.se_resnet import SEBlockMixin
from se_plugins.models.layers import SqueezeExcitation
from se_plugins.registry import MODELS

from helpers import NETWORKS, randomise_bn


def test_drop_path_keeps_the_unfused_form():
    model = MODELS.build(dict(type='SEResNet', depth=50, drop_path_rate=0.1)).train()
    calls = []
    model.layer4[2].se.register_forward_hook(lambda *args: calls.append(1))  # se(x) runs, not scale_add
    model(torch.randn(2, 3, 64, 64))
    assert calls == [1]


@pytest.mark.parametrize('cfg', [
    dict(type='SEResNet', depth=50),
    dict(type='SEResNet', depth=18),
    dict(type='SEResNeXt', depth=50, se_placement='after_3x3'),
    dict(type='SENet154'),
    *[dict(type=name, **args, out_indices=tuple(range(len(channels))))
      for name, (args, _, channels, _) in sorted(NETWORKS.items())],
], ids=['se-r50', 'se-r18', 'se-x50-after3x3', 'senet154', *sorted(NETWORKS)])
@pytest.mark.parametrize('channels_last', [True, False], ids=['channels-last', 'contiguous'])
def test_fuse_folds_every_bn_and_keeps_the_outputs(cfg, channels_last):
    cfg = dict(cfg) if 'out_indices' in cfg else dict(cfg, out_indices=(0, 1, 2, 3))
    size = NETWORKS[cfg['type']][3] if cfg['type'] in NETWORKS else 64
    model = MODELS.build(cfg)
    randomise_bn(model)
    model.eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        expected = model(x)
        assert model.fuse(channels_last=channels_last) is model and not model.training
        fused = model(x)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(conv.weight.is_contiguous(memory_format=torch.channels_last) == channels_last for conv in convs
               if conv.weight.shape[2:] != (1, 1) and conv.weight.shape[1] > 1)  # else both layouts at once
    left = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert not any(_follows_a_conv(model, bn) for bn in left)
    assert not left or cfg['type'] in NETWORKS  # every BN of a ResNet follows a conv
    for out, ref in zip(fused, expected):
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('cfg, through', [
    (dict(type='SEResNet', depth=50), True),
    (dict(type='SEResNeXt', depth=50), True),
    (dict(type='SENet154'), False),  # its last convs have as many input channels as output channels
    (dict(type='SEResNet', depth=50, se_squeeze='max'), False),  # a max does not commute with the conv
    (dict(type='SEResNet', depth=50, se_placement='identity'), False),
    (dict(type='SEResNet', depth=18), False),  # a 3x3 last conv: its padding makes the border's pixels differ
], ids=['se-r50', 'se-x50', 'senet154', 'max-squeeze', 'identity-placement', 'se-r18'])
def test_deploy_mode_squeezes_the_input_of_a_1x1_last_conv_where_that_reads_less(cfg, through):
    """In deploy mode a bottleneck's SE squeezes its last conv's input (a quarter of the channels) and applies
    the conv to the squeezed vector, with the same outputs, where the pixels it leaves unread outnumber the conv's
    weights, which it reads once more: at batch 2 and 64x64, in the first stage (16x16 maps), not in the last
    (2x2). Where that is not exact, every SE squeezes the map it scales."""
    model = MODELS.build(dict(cfg, out_indices=(0, 1, 2, 3)))
    randomise_bn(model)
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
    model.fuse()
    squeezed_channels = {}
    blocks = [m for m in model.modules() if isinstance(m, SEBlockMixin) and isinstance(m.se, SqueezeExcitation)]
    for block in blocks:
        block.se.pool.register_forward_hook(
            lambda pool, inputs, output, block=block: squeezed_channels.__setitem__(block, inputs[0].shape[1]))
    with torch.no_grad():
        fused = model(x)
    assert blocks and all(block.squeeze_through_last_conv == through for block in blocks)
    assert len(squeezed_channels) == len(blocks)
    for block in model.layer1:
        assert squeezed_channels[block] == (block.last_conv.in_channels if through else block.se.channels)
        assert not through or block.last_conv.in_channels < block.se.channels
    assert all(squeezed_channels[block] == block.se.channels for block in model.layer4)
    for out, ref in zip(fused, expected):
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def _follows_a_conv(model: nn.Module, bn: nn.Module) -> bool:
    """Whether ``bn`` comes right after a conv in its parent's modules (what mmcv's fuse_conv_bn folds)."""
    for parent in model.modules():
        children = list(parent.children())
        for before, module in zip(children, children[1:]):
            if module is bn and isinstance(before, nn.Conv2d):
                return True
    return False


def test_deploy_mode_is_channels_last_by_default_and_hands_on_contiguous_maps():
    """Inside, every map is channels-last; what the backbone returns is contiguous, as what follows may read
    it as NCHW without its strides (mmcv's RoIAlign on the CPU: tests/test_tools/test_demo.py)."""
    model = MODELS.build(dict(type='SEResNet', depth=50, out_indices=(2, 3))).fuse()
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    inside = []
    model.layer4.register_forward_hook(lambda module, inputs, output: inside.append(output))
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))  # a contiguous input: the first conv converts it
    assert inside[0].is_contiguous(memory_format=torch.channels_last) and not inside[0].is_contiguous()
    assert isinstance(outs, tuple) and len(outs) == 2 and all(out.is_contiguous() for out in outs)
    assert torch.equal(outs[-1], inside[0])
    assert len(model.fuse()._forward_hooks) == 1  # fused again: one conversion


@pytest.mark.parametrize('training', [False, True], ids=['eval', 'train'])
def test_no_graph_breaks_under_torch_compile(training):
    torch._dynamo.reset()
    model = MODELS.build(dict(type='SEResNet', depth=50)).train(training)
    explanation = torch._dynamo.explain(model)(torch.randn(2, 3, 64, 64))
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1, explanation.break_reasons
