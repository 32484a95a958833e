import re

import pytest
import torch
import torch.nn as nn
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm
from mmpretrain.models.backbones import ResNet

from se_plugins.building import without_initialisation
from se_plugins.models.backbones import SE_PLACEMENTS, SEBasicBlock, SEBottleneck
from se_plugins.models.layers import GATES, SqueezeExcitation
from se_plugins.registry import MODELS
from se_plugins.utils import InputError

from helpers import count_parameters

# The SE-ResNet family (tests/test_models/test_backbones/test_se_networks.py has the paper's other networks)
ARCHS = [(name, depth) for name, cls in sorted(MODELS.module_dict.items())
         if isinstance(cls, type) and issubclass(cls, ResNet) for depth in sorted(cls.arch_settings)]


def build(name: str, depth: int, **kwargs) -> nn.Module:
    return MODELS.build(dict(type=name, depth=depth, **kwargs))


def expected_channels(name, depth):
    return (64, 128, 256, 512) if name == 'SEResNet' and depth < 50 else (256, 512, 1024, 2048)


def test_every_paper_architecture_is_registered():
    assert set(ARCHS) >= {('SEResNet', d) for d in (18, 34, 50, 101, 152)} | {
        ('SEResNeXt', d) for d in (50, 101, 152)} | {('SENet154', 152)}


@pytest.mark.parametrize('name, depth', ARCHS)
def test_output_channels_and_strides(name, depth):
    model = build(name, depth, out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == list(expected_channels(name, depth))
    assert [o.shape[2:] for o in outs] == [(16, 16), (8, 8), (4, 4), (2, 2)]  # strides 4, 8, 16, 32


@pytest.mark.parametrize('name, depth', ARCHS)
def test_frozen_stages_freeze_parameters_and_bn(name, depth):
    with without_initialisation():  # which parts train is what is checked
        model = build(name, depth, frozen_stages=1)
    model.train()
    frozen = [model.stem if model.deep_stem else nn.ModuleList([model.conv1, model.norm1]),
              model.layer1]
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not m.training for m in module.modules() if isinstance(m, _BatchNorm))
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert all(m.training for m in model.layer2.modules() if isinstance(m, _BatchNorm))


@pytest.mark.parametrize('name, depth', ARCHS)
def test_norm_eval_keeps_bn_in_eval_mode(name, depth):
    model = build(name, depth, norm_eval=True)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and all(not m.training for m in bns)
    before = bns[-1].running_mean.clone()
    model(torch.randn(2, 3, 32, 32))
    torch.testing.assert_close(bns[-1].running_mean, before)


# One depth of each block type (deeper networks repeat the same blocks), SENet-154 at an eighth of its width
BLOCK_TYPES = sorted({(name, MODELS.get(name).arch_settings[depth][0]): (name, depth)
                      for name, depth in sorted(ARCHS, reverse=True)}.values())
NARROW = {'SENet154': dict(groups=8)}


@pytest.mark.parametrize('name, depth', BLOCK_TYPES)
def test_with_cp_gives_the_same_outputs_and_gradients(name, depth):
    plain = build(name, depth, out_indices=(3, ), **NARROW.get(name, {}))
    checkpointed = build(name, depth, out_indices=(3, ), with_cp=True, **NARROW.get(name, {}))
    checkpointed.load_state_dict(plain.state_dict())
    plain.train(), checkpointed.train()
    results = []
    for model in (plain, checkpointed):
        x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1), requires_grad=True)
        out = model(x)[0]
        out.pow(2).mean().backward()
        results.append((out.detach(), x.grad, {k: p.grad for k, p in model.named_parameters()}))
    (out_a, xgrad_a, grads_a), (out_b, xgrad_b, grads_b) = results
    torch.testing.assert_close(out_a, out_b)
    torch.testing.assert_close(xgrad_a, xgrad_b)
    for key in grads_a:
        torch.testing.assert_close(grads_a[key], grads_b[key], msg=key)


def _all_parameters_get_gradients(model, size=32):
    model.train()
    outs = model(torch.randn(2, 3, size, size))
    sum(o.pow(2).mean() for o in outs).backward()
    missing = [k for k, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f'no gradient for {missing[:5]}'


@pytest.mark.parametrize('placement', SE_PLACEMENTS)
@pytest.mark.parametrize('depth', [18, 50])
def test_every_placement_trains(placement, depth):
    if depth == 18 and placement == 'after_3x3':
        with pytest.raises(ValueError, match=re.escape("se_placement of SEBasicBlock='after_3x3'")):
            build('SEResNet', depth, se_placement=placement)
        return
    model = build('SEResNet', depth, se_placement=placement, out_indices=(0, 1, 2, 3))
    block = model.layer2[0]
    expected = {'pre': block.in_channels, 'after_3x3': getattr(block, 'mid_channels', None)}.get(
        placement, block.out_channels)
    assert block.se.channels == expected
    _all_parameters_get_gradients(model)


@pytest.mark.parametrize('gate', sorted(GATES))
@pytest.mark.parametrize('squeeze', ['avg', 'max', 'avgmax'])
def test_every_gate_and_squeeze_trains(gate, squeeze):
    model = build('SEResNet', 18, se_gate=gate, se_squeeze=squeeze, out_indices=(0, 1, 2, 3))
    se = model.layer1[0].se
    assert type(se.gate) is GATES[gate].module and se.squeeze == squeeze
    _all_parameters_get_gradients(model)


def test_placements_compute_what_the_paper_draws():
    """Each placement against the block written out by hand with the same modules; in inference the block
    writes its result into its own temporaries, never into its input."""
    x = torch.randn(2, 256, 8, 8)
    original = x.clone()
    for placement in SE_PLACEMENTS:
        model = build('SEResNet', 50, se_placement=placement).eval()
        block = model.layer1[1]  # no downsample: the identity is x
        assert isinstance(block, SEBottleneck)
        se, relu = block.se, torch.relu
        conv_bn = lambda i, t: getattr(block, f'norm{i}')(getattr(block, f'conv{i}')(t))  # noqa: E731
        with torch.no_grad():
            branch_input = se(x) if placement == 'pre' else x
            mid = relu(conv_bn(2, relu(conv_bn(1, branch_input))))
            if placement == 'after_3x3':
                mid = se(mid)
            branch = conv_bn(3, mid)
            expected = {
                'standard': lambda: relu(se(branch) + x),
                'pre': lambda: relu(branch + x),
                'post': lambda: relu(se(branch + x)),
                'identity': lambda: relu(branch + se(x)),
                'after_3x3': lambda: relu(branch + x),
            }[placement]()
            torch.testing.assert_close(block(x), expected, msg=placement)
        assert torch.equal(x, original), placement


def test_se_stages_and_se_off_equals_resnet():
    model = build('SEResNet', 50, se_stages=(False, True, False, True))
    assert [all(isinstance(b.se, SqueezeExcitation) for b in getattr(model, f'layer{i}')) for i in range(1, 5)] == [
        False, True, False, True]
    assert all(type(b.se) is nn.Identity for b in model.layer1)

    ours = build('SEResNet', 50, se_stages=(False, ) * 4, out_indices=(0, 1, 2, 3)).eval()
    resnet = ResNet(50, out_indices=(0, 1, 2, 3))
    resnet.eval()  # mmpretrain's ResNet.train returns None
    resnet.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(ours(x), resnet(x)):
            torch.testing.assert_close(a, b)


def test_parameter_overhead_is_the_papers_formula():
    """SE-ResNet-50 minus ResNet-50 = (2/r)·Σ N_s·C_s² plus the SE biases (C/r + C per block)."""
    r, blocks, channels = 16, (3, 4, 6, 3), (256, 512, 1024, 2048)
    extra = count_parameters(build('SEResNet', 50, se_ratio=r)) - count_parameters(ResNet(50))
    weights = sum(2 * n * c * c // r for n, c in zip(blocks, channels))
    biases = sum(n * (c // r + c) for n, c in zip(blocks, channels))
    assert weights == 2_514_944  # the paper's "+~2.5M"
    assert extra == weights + biases


def test_drop_path_is_applied():
    model = build('SEResNet', 50, drop_path_rate=0.5, out_indices=(3, ))
    assert any(type(m).__name__ == 'DropPath' for m in model.modules())
    x = torch.randn(2, 3, 32, 32)
    model.train()
    torch.manual_seed(1)
    a = model(x)[0]
    torch.manual_seed(2)
    b = model(x)[0]
    assert not torch.allclose(a, b), 'drop_path_rate had no effect in training'
    model.eval()
    torch.testing.assert_close(model(x)[0], model(x)[0])


def test_caffe_style_and_stem_pool():
    model = build('SEResNet', 50, style='caffe', stem_pool='caffe')
    block = model.layer2[0]
    assert block.conv1.stride == (2, 2) and block.conv2.stride == (1, 1)
    assert model.maxpool.ceil_mode and model.maxpool.padding == 0
    pytorch_style = build('SEResNet', 50).layer2[0]
    assert pytorch_style.conv1.stride == (1, 1) and pytorch_style.conv2.stride == (2, 2)


def test_senet154_layout():
    model = build('SENet154', 152)
    assert [m.conv.out_channels for m in model.stem] == [64, 64, 128]
    first = model.layer2[0]
    assert first.conv1.out_channels * 2 == first.conv2.out_channels == 512
    assert first.conv2.groups == 64
    assert first.downsample[0].kernel_size == (3, 3)
    assert model.layer1[0].downsample[0].kernel_size == (1, 1)  # stride 1: stays 1x1


@pytest.mark.parametrize('norm_cfg, norm_type', [(dict(type='BN'), nn.BatchNorm2d),
                                                 (dict(type='SyncBN'), nn.SyncBatchNorm),
                                                 (dict(type='GN', num_groups=8), nn.GroupNorm)])
def test_norm_cfg(norm_cfg, norm_type):
    model = build('SEResNet', 18, norm_cfg=norm_cfg)
    assert isinstance(model.layer1[0].norm1, norm_type)
    if norm_type is nn.GroupNorm:
        model(torch.randn(1, 3, 32, 32))


def test_pretrained_init_cfg_with_prefix(tmp_path):
    source = build('SEResNet', 18)
    path = tmp_path / 'ckpt.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in source.state_dict().items()}}, path)
    model = build('SEResNet', 18, init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                                prefix='backbone.'))
    model.init_weights()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=key)


def test_zero_init_residual_zeroes_the_last_bn():
    model = build('SEResNet', 50)
    model.init_weights()
    assert all(b.norm3.weight.abs().sum() == 0 for b in model.layer1)
    basic = build('SEResNet', 18)
    basic.init_weights()
    assert isinstance(basic.layer1[0], SEBasicBlock)
    assert all(b.norm2.weight.abs().sum() == 0 for b in basic.layer1)


@pytest.mark.parametrize('kwargs, message', [
    (dict(depth=42), 'depth of SEResNet=42 is not supported; choose one of [18, 34, 50, 101, 152]'),
    (dict(depth=50, se_placement='middle'),
     "se_placement of SEBottleneck='middle' is not supported; choose one of ['after_3x3', 'identity', 'post', "
     "'pre', 'standard']"),
    (dict(depth=50, se_stages=(True, False)), 'se_stages needs one entry per stage (4)'),
    (dict(depth=50, stem_pool='avg'), "stem_pool='avg' is not supported; choose one of ['caffe', 'pytorch']"),
])
def test_bad_arguments_name_the_valid_choices(kwargs, message):
    with pytest.raises(InputError, match=re.escape(message)):
        MODELS.build(dict(type='SEResNet', **kwargs))


@pytest.mark.parametrize('name, depth', [('SEResNet', 42), ('SEResNeXt', 18), ('SENet154', 101)])
def test_an_unknown_depth_is_a_key_error_as_in_mmpretrain(name, depth):
    with pytest.raises(KeyError) as error:
        MODELS.build(dict(type=name, depth=depth))
    assert isinstance(error.value, InputError)
    assert f'depth of {name}={depth} is not supported; choose one of [' in str(error.value)


def test_bad_resnext_depth_names_the_valid_choices():
    with pytest.raises(ValueError, match=re.escape('depth of SEResNeXt=18 is not supported; choose one of '
                                                   '[50, 101, 152]')):
        MODELS.build(dict(type='SEResNeXt', depth=18))


def test_squeeze_excitation_is_the_only_se_module():
    model = build('SEResNeXt', 50)
    ses = [m for m in model.modules() if isinstance(m, SqueezeExcitation)]
    assert len(ses) == 16
