"""The fast paths equal the straightforward forms: the SE scale fused with the residual sum
(training and inference) and deploy mode (BN folded into the convs)."""
import pytest
import torch
import torch.nn as nn

from se_plugins.models.layers import SqueezeExcitation
from se_plugins.registry import MODELS


def unfused_scale_add(self, x, other):
    return self(x) + other  # eq. (4), then the block's sum: two passes


@pytest.mark.parametrize('placement', ['standard', 'identity'])
def test_fused_scale_add_equals_scale_then_add(placement, monkeypatch):
    # in float64, so that the comparison sees the algebra (a bug is O(1)), not float32 rounding, which
    # training-mode BN amplifies through 16 blocks to 1e-4
    torch.manual_seed(0)
    model = MODELS.build(dict(type='SEResNet', depth=50, se_placement=placement, zero_init_residual=False)).double()
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    fused_out = model(x)[-1]
    fused_out.square().mean().backward()
    fused_grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    monkeypatch.setattr(SqueezeExcitation, 'scale_add', unfused_scale_add)
    plain_out = model(x)[-1]
    plain_out.square().mean().backward()
    torch.testing.assert_close(fused_out, plain_out, rtol=1e-6, atol=1e-9)
    for name, p in model.named_parameters():
        torch.testing.assert_close(fused_grads[name], p.grad, rtol=1e-6, atol=1e-9, msg=name)


def test_drop_path_keeps_the_unfused_form():
    model = MODELS.build(dict(type='SEResNet', depth=50, drop_path_rate=0.1)).train()
    calls = []
    model.layer4[2].se.register_forward_hook(lambda *args: calls.append(1))  # se(x) runs, not scale_add
    model(torch.randn(2, 3, 64, 64))
    assert calls == [1]


def randomise_bn(model: nn.Module) -> None:
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(module.num_features, generator=generator) * 0.1)


@pytest.mark.parametrize('cfg', [
    dict(type='SEResNet', depth=50),
    dict(type='SEResNet', depth=18),
    dict(type='SEResNeXt', depth=50, se_placement='after_3x3'),
    dict(type='SENet154'),
], ids=['se-r50', 'se-r18', 'se-x50-after3x3', 'senet154'])
def test_fuse_folds_every_bn_and_keeps_the_outputs(cfg):
    model = MODELS.build(dict(cfg, out_indices=(0, 1, 2, 3)))
    randomise_bn(model)
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        assert model.fuse() is model and not model.training
        fused = model(x)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    for out, ref in zip(fused, expected):
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('training', [False, True], ids=['eval', 'train'])
def test_no_graph_breaks_under_torch_compile(training):
    torch._dynamo.reset()
    model = MODELS.build(dict(type='SEResNet', depth=50)).train(training)
    explanation = torch._dynamo.explain(model)(torch.randn(2, 3, 64, 64))
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1, explanation.break_reasons
