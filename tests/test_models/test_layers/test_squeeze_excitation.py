import pytest
import torch
import torch.nn.functional as F

from se_plugins.models.layers import GATES, SqueezeExcitation


def reference_se(se: SqueezeExcitation, x: torch.Tensor, squeeze: str, gate) -> torch.Tensor:
    """The paper's eqs. (2)-(4), written out with plain tensor ops."""
    z = {'avg': x.mean((2, 3)), 'max': x.amax((2, 3)),
         'avgmax': 0.5 * (x.mean((2, 3)) + x.amax((2, 3)))}[squeeze]
    w1, b1 = se.fc1.weight.flatten(1), se.fc1.bias
    w2, b2 = se.fc2.weight.flatten(1), se.fc2.bias
    s = gate(F.linear(F.relu(F.linear(z, w1, b1)), w2, b2))
    return x * s[:, :, None, None]


@pytest.mark.parametrize('squeeze', ['avg', 'max', 'avgmax'])
@pytest.mark.parametrize('gate', sorted(GATES))
def test_matches_the_papers_equations(squeeze, gate):
    se = SqueezeExcitation(32, ratio=4, squeeze=squeeze, gate=gate)
    x = torch.randn(2, 32, 5, 7)
    torch.testing.assert_close(se(x), reference_se(se, x, squeeze, GATES[gate].function))


@pytest.mark.parametrize('channels, ratio, divisor, expected', [
    (256, 16, None, 16),
    (64, 16, None, 4),     # the paper's C // r (timm's legacy_seresnet18)
    (64, 16, 8, 8),        # rounded up to the divisor (timm's seresnet18)
    (304, 16, 8, 16),      # 19 rounds to the nearest multiple of 8, as timm does (no 0.9 bump)
    (2048, 16, 8, 128),
])
def test_squeeze_channels(channels, ratio, divisor, expected):
    se = SqueezeExcitation(channels, ratio=ratio, divisor=divisor)
    assert se.squeeze_channels == expected
    assert se.fc1.weight.shape == (expected, channels)
    assert se.fc2.weight.shape == (channels, expected)


def test_explicit_squeeze_channels_and_no_bias():
    se = SqueezeExcitation(64, squeeze_channels=10, bias=False)
    assert se.fc1.weight.shape[0] == 10
    assert se.fc1.bias is None and se.fc2.bias is None
    assert sum(p.numel() for p in se.parameters()) == 2 * 64 * 10


def test_gate_values_are_exposed_to_hooks():
    se = SqueezeExcitation(16, ratio=4)
    recorded = []
    se.gate.register_forward_hook(lambda module, args, out: recorded.append(out))
    x = torch.randn(3, 16, 4, 4)
    y = se(x)
    assert len(recorded) == 1 and recorded[0].shape == (3, 16, 1, 1)
    torch.testing.assert_close(recorded[0], se.excite(x))
    torch.testing.assert_close(y, x * recorded[0])


def test_forward_hooks_on_every_step_fire():
    se = SqueezeExcitation(16, ratio=4)
    seen = []
    for name in ('pool', 'fc1', 'relu', 'fc2', 'gate'):
        getattr(se, name).register_forward_hook(lambda module, args, out, name=name: seen.append(name))
    se(torch.randn(2, 16, 3, 3))
    se.scale_add(torch.randn(2, 16, 3, 3), torch.randn(2, 16, 3, 3))
    assert seen == ['pool', 'fc1', 'relu', 'fc2', 'gate'] * 2


def test_dynamic_quantization_converts_the_excitation():
    se = SqueezeExcitation(64, ratio=4).eval()
    quantized = torch.ao.quantization.quantize_dynamic(se, {torch.nn.Linear}, dtype=torch.qint8)
    for name in ('fc1', 'fc2'):
        assert type(getattr(quantized, name)).__module__.startswith('torch.ao.nn.quantized.dynamic'), name
    x = torch.randn(2, 64, 4, 4)
    torch.testing.assert_close(quantized(x), se(x), atol=0.05, rtol=0.05)


def test_1x1_conv_checkpoints_load():
    """Checkpoints written when fc1/fc2 were 1x1 convolutions (and the peers' layout) load unchanged."""
    se = SqueezeExcitation(32, ratio=4)
    old = {k: v.clone() for k, v in se.state_dict().items()}
    old['fc1.weight'] = torch.randn(8, 32, 1, 1)
    old['fc2.weight'] = torch.randn(32, 8, 1, 1)
    container = torch.nn.Sequential(SqueezeExcitation(32, ratio=4))
    container.load_state_dict({f'0.{k}': v for k, v in old.items()})
    torch.testing.assert_close(container[0].fc1.weight, old['fc1.weight'].flatten(1))
    torch.testing.assert_close(container[0].fc2.weight, old['fc2.weight'].flatten(1))
    x = torch.randn(2, 32, 3, 3)
    conv_form = x * torch.sigmoid(F.conv2d(F.relu(F.conv2d(x.mean((2, 3), keepdim=True), old['fc1.weight'],
                                                           old['fc1.bias'])), old['fc2.weight'], old['fc2.bias']))
    torch.testing.assert_close(container(x), conv_form)


@pytest.mark.parametrize('kwargs, message', [
    (dict(squeeze='median'), "squeeze='median' is not supported; choose one of ['avg', 'avgmax', 'max']"),
    (dict(gate='swish'), "gate='swish' is not supported; choose one of ['hsigmoid', 'relu', 'sigmoid', 'tanh']"),
    (dict(ratio=0), 'ratio must be a positive integer, got 0'),
    (dict(ratio=-4), 'ratio must be a positive integer, got -4'),
    (dict(ratio=64), 'has 0 squeeze channels'),
])
def test_bad_arguments_name_the_valid_choices(kwargs, message):
    with pytest.raises(ValueError, match=message.replace('[', r'\[').replace(']', r'\]')):
        SqueezeExcitation(32, **kwargs)


@pytest.mark.parametrize('with_other', [True, False], ids=['scale-add', 'scale'])
def test_inference_writes_into_the_tensor_handed_over_and_autograd_gets_a_new_one(with_other):
    """``scale_add(..., out=t)``: without autograd (deploy mode, inference) the result is written into ``t``, a
    large map's allocation saved; where autograd records it, or ``t`` is not laid out as the result, a new
    tensor, ``t`` untouched. The numbers are the same."""
    se = SqueezeExcitation(16, ratio=4).eval()
    x = torch.randn(2, 16, 6, 6).to(memory_format=torch.channels_last)
    other = torch.randn_like(x) if with_other else None
    expected = reference_se(se, x, 'avg', torch.sigmoid) + (0 if other is None else other)
    with torch.no_grad():
        out = x.clone()
        result = se.scale_add(out, other, out=out)
        assert result is out
        torch.testing.assert_close(result, expected)
        contiguous = x.contiguous()
        result = se.scale_add(x, other, out=contiguous)  # another layout than the result's
        assert result is not contiguous and torch.equal(contiguous, x.contiguous())
        torch.testing.assert_close(result, expected)
    handed = x.clone().requires_grad_()
    result = se.scale_add(handed, other, out=handed)
    assert result is not handed and torch.equal(handed.detach(), x)
    torch.testing.assert_close(result, expected)
