"""The SE's training-time autograd function: its gradients are the plain form's (float64), in every network
and placement it runs in, with with_cp and torch.compile, and it keeps less for backward."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from se_plugins.analysis.memory import saved_activation_bytes
from se_plugins.building import in_scope
from se_plugins.models.backbones.se_resnet import SE_PLACEMENTS
from se_plugins.models.layers import GATES, Gate, set_fused_backward
from se_plugins.models.layers.fused_se import SEScaleAdd, fused_form_applies
from se_plugins.registry import MODELS
from se_plugins.utils import InputError

from helpers import NETWORKS


def double(*shape, positive=False):
    values = torch.rand(*shape, dtype=torch.float64) + 0.5 if positive else torch.randn(*shape, dtype=torch.float64)
    return values.requires_grad_()


@pytest.mark.parametrize('gate', sorted(GATES))
@pytest.mark.parametrize('norm', ['train', 'eval', None], ids=['bn-train', 'bn-eval', 'no-bn'])
@pytest.mark.parametrize('with_other', [True, False], ids=['sum', 'scale-only'])
def test_gradcheck(gate, norm, with_other):
    torch.manual_seed(0)
    channels, squeezed = 6, 3
    x, other = double(2, channels, 4, 3), double(2, channels, 4, 3) if with_other else None
    norm_weight, norm_bias = (double(channels, positive=True), double(channels)) if norm else (None, None)
    running = (torch.randn(channels, dtype=torch.float64), torch.rand(channels, dtype=torch.float64) + 0.5)
    running_mean, running_var = running if norm else (None, None)
    fc = (double(squeezed, channels), double(squeezed), double(channels, squeezed), double(channels))

    def function(x, other, norm_weight, norm_bias, w1, b1, w2, b2):
        return SEScaleAdd.apply(x, other, norm_weight, norm_bias, running_mean, running_var, norm == 'train', 0.1,
                                1e-5, w1, b1, w2, b2, gate)
    assert torch.autograd.gradcheck(function, (x, other, norm_weight, norm_bias, *fc), eps=1e-6, atol=1e-5)


def count_fused_calls(monkeypatch) -> list:
    calls = []
    apply = SEScaleAdd.apply

    def counted(*args):
        calls.append(args[2] is not None)  # with a BN
        return apply(*args)
    monkeypatch.setattr(SEScaleAdd, 'apply', counted)
    return calls


def step(model: nn.Module, x: torch.Tensor, forward=None):
    """A training step's outputs, parameter gradients and BN running statistics (``forward``: what runs
    the model, default the model itself)."""
    model.zero_grad()
    outs = (model if forward is None else forward)(x)
    outs = outs if isinstance(outs, (tuple, list)) else (outs, )
    sum(o.square().mean() for o in outs).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    stats = {name: b.clone() for name, b in model.named_buffers()}
    return [o.detach() for o in outs], grads, stats


def assert_fused_equals_plain(model: nn.Module, x: torch.Tensor) -> None:
    state = {k: v.clone() for k, v in model.state_dict().items()}
    set_fused_backward(model, True)
    fused = step(model, x)
    model.load_state_dict(state)
    set_fused_backward(model, False)
    plain = step(model, x)
    for got, expected in zip(fused[0], plain[0]):
        torch.testing.assert_close(got, expected, rtol=1e-7, atol=1e-10)
    assert fused[1].keys() == plain[1].keys()
    for name in plain[1]:
        torch.testing.assert_close(fused[1][name], plain[1][name], rtol=1e-6, atol=1e-9, msg=name)
    for name in plain[2]:  # the BN that the function applies counts and updates as nn.BatchNorm2d does
        torch.testing.assert_close(fused[2][name], plain[2][name], rtol=1e-7, atol=1e-10, msg=name)


@pytest.mark.parametrize('depth,placement', [(50, placement) for placement in SE_PLACEMENTS] +
                         [(18, placement) for placement in SE_PLACEMENTS if placement != 'after_3x3'])
def test_every_placement_of_se_resnet_has_the_plain_gradients(placement, depth, monkeypatch):
    torch.manual_seed(0)
    model = MODELS.build(dict(type='SEResNet', depth=depth, se_placement=placement, zero_init_residual=False,
                              out_indices=(0, 1, 2, 3))).double().train()
    calls = count_fused_calls(monkeypatch)
    assert_fused_equals_plain(model, torch.randn(2, 3, 64, 64, dtype=torch.float64))
    blocks = 8 if depth == 18 else 16
    assert len(calls) == blocks  # the fused run; the plain run does not call it
    assert all(calls) == (placement == 'standard')  # the standard SE applies the branch's last BN


# SENet-154 narrowed (8 groups instead of 64: its blocks, stem and downsampling at an eighth of the width)
@pytest.mark.parametrize('cfg', [dict(type='SEResNeXt', depth=50), dict(type='SENet154', groups=8),
                                 dict(type='SEResNet', depth=50, with_cp=True),
                                 dict(type='SEResNet', depth=50, norm_eval=True, frozen_stages=1),
                                 dict(type='SEResNet', depth=50, se_gate='hsigmoid', se_divisor=8)],
                         ids=['se-resnext50', 'senet154', 'with_cp', 'norm_eval-frozen', 'hsigmoid'])
def test_resnet_variants_have_the_plain_gradients(cfg, monkeypatch):
    torch.manual_seed(0)
    model = MODELS.build(dict(cfg, zero_init_residual=False)).double().train()
    calls = count_fused_calls(monkeypatch)
    assert_fused_equals_plain(model, torch.randn(2, 3, 64, 64, dtype=torch.float64).requires_grad_(
        bool(cfg.get('with_cp'))))
    assert calls


@pytest.mark.parametrize('name', sorted(NETWORKS))
def test_the_papers_other_networks_have_the_plain_gradients(name, monkeypatch):
    torch.manual_seed(0)
    args, num_se, channels, size = NETWORKS[name]
    model = MODELS.build(dict(type=name, **args, out_indices=tuple(range(len(channels))))).double().train()
    calls = count_fused_calls(monkeypatch)
    assert_fused_equals_plain(model, torch.randn(2, 3, size, size, dtype=torch.float64))
    assert len(calls) == num_se


def test_se_plugin_in_mmdet_resnet_has_the_plain_gradients(monkeypatch):
    from mmdet.registry import MODELS as MMDET_MODELS
    torch.manual_seed(0)
    with in_scope('mmdet'):  # whatever scope an earlier test left current
        model = MMDET_MODELS.build(dict(type='ResNet', depth=50, plugins=[dict(
            cfg=dict(type='se_plugins.SEPlugin', ratio=16), stages=(True, ) * 4, position='after_conv3')]))
    model.double()
    calls = count_fused_calls(monkeypatch)
    model.train()  # mmdet's ResNet.train returns None
    assert_fused_equals_plain(model, torch.randn(2, 3, 64, 64, dtype=torch.float64))
    assert len(calls) == 16


def softsign() -> Gate:
    """A gate the package does not have: ``v / (1 + |v|)``, derivative ``(1 - |s|)^2``."""
    return Gate('softsign', nn.Softsign, F.softsign, lambda v, s: (1 - s.abs()).square())


def test_a_gate_added_to_the_table_alone_trains_fused_and_evaluates_with_itself(monkeypatch):
    monkeypatch.setitem(GATES, 'softsign', softsign())
    torch.manual_seed(0)
    model = MODELS.build(dict(type='SEResNet', depth=18, se_gate='softsign', zero_init_residual=False)).double()
    assert type(model.layer1[0].se.gate) is nn.Softsign
    calls = count_fused_calls(monkeypatch)
    assert_fused_equals_plain(model.train(), torch.randn(2, 3, 32, 32, dtype=torch.float64))
    assert len(calls) == 8  # trained through the fused form, with the gradients of autograd on nn.Softsign
    se, x = model.layer1[0].se.eval(), torch.randn(2, 64, 4, 4, dtype=torch.float64)
    with torch.no_grad():  # evaluation: the same gate
        s = F.softsign(se.fc2(se.relu(se.fc1(x.mean((2, 3))))))
        torch.testing.assert_close(se(x), x * s[:, :, None, None])
    fc = (double(4, 6), double(4), double(6, 4), double(6))
    assert torch.autograd.gradcheck(lambda x, *fc: SEScaleAdd.apply(
        x, None, None, None, None, None, False, 0.0, 0.0, *fc, 'softsign'), (double(2, 6, 3, 3), *fc))


def test_a_gate_whose_forms_disagree_or_that_is_not_a_gate_fails_when_it_is_made_or_built(monkeypatch):
    with pytest.raises(InputError, match="gate 'softsign': its derivative is not that of its function"):
        Gate('softsign', nn.Softsign, F.softsign, lambda v, s: 1 - s * s)
    with pytest.raises(InputError, match="gate 'softsign': its module Tanh and its function give different"):
        Gate('softsign', nn.Tanh, F.softsign, softsign().derivative)
    monkeypatch.setitem(GATES, 'softsign', nn.Softsign)  # a module alone: training would have no derivative
    with pytest.raises(InputError, match="se_gate: GATES\\['softsign'\\] is a type, not a Gate"):
        MODELS.build(dict(type='SEResNet', depth=18, se_gate='softsign'))
    with pytest.raises(InputError, match="se_gate='swish' is not supported; choose one of"):
        MODELS.build(dict(type='SEResNet', depth=18, se_gate='swish'))


def test_hooks_inference_and_other_squeezes_run_the_submodules(monkeypatch):
    model = MODELS.build(dict(type='SEResNet', depth=50)).train()
    calls = count_fused_calls(monkeypatch)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        model(x)
    assert calls == []
    seen = []
    handle = model.layer2[0].se.gate.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    model(x)
    assert seen == [(2, 512, 1, 1)] and len(calls) == 15  # every other block fused, the hooked one not
    handle.remove()
    handle = model.layer2[0].bn3.register_forward_pre_hook(lambda module, args: seen.append('bn3'))
    model(x)
    assert seen[-1] == 'bn3' and len(calls) == 15 + 15
    handle.remove()
    assert not fused_form_applies(MODELS.build(dict(type='SEResNet', depth=50, se_squeeze='max')).layer1[0].se,
                                  x.requires_grad_())


@pytest.mark.parametrize('autocast_dtype', [torch.bfloat16, torch.float16])
def test_under_autocast_the_fused_form_is_as_exact_as_the_plain_one(autocast_dtype, monkeypatch):
    """bf16 (the CPU's --amp) and fp16 (a GPU's, here on the CPU: not run on a GPU)."""
    torch.manual_seed(0)
    block = MODELS.build(dict(type='SEResNet', depth=50, zero_init_residual=False)).train().layer1[1]
    x, weights = torch.randn(8, 256, 28, 28), torch.linspace(-1, 1, 8 * 256 * 28 * 28).view(8, 256, 28, 28)
    state = {k: v.clone() for k, v in block.state_dict().items()}

    def gradients(dtype, fused):
        block.load_state_dict(state)
        block.to(dtype)
        set_fused_backward(block, fused)
        block.zero_grad()
        inputs = x.to(dtype).requires_grad_()
        with torch.autocast('cpu', dtype=autocast_dtype, enabled=dtype == torch.float32):
            out = block(inputs)
        (out.to(dtype) * weights.to(dtype)).sum().backward()
        return {'input': inputs.grad, **{name: p.grad.clone() for name, p in block.named_parameters()}}
    exact = gradients(torch.float64, False)
    calls = count_fused_calls(monkeypatch)
    fused, plain = gradients(torch.float32, True), gradients(torch.float32, False)
    assert calls == [True]  # autocast ran the fused form once (the block's one SE)

    def error(grads, name):
        return float((grads[name].double() - exact[name]).abs().max() / exact[name].abs().max())
    for name in exact:  # bf16 keeps ~3 digits, fp16 ~4: both forms are off float64 as much; the fused form no more
        assert error(fused, name) <= 2 * error(plain, name) + 0.01, name


def test_training_under_torch_compile_has_the_eager_gradients():
    torch._dynamo.reset()
    torch.manual_seed(0)
    # float64: float32 rounding, which training-mode BN amplifies through the blocks, is the same size for
    # the fused and the plain form (both ~1 % of the first conv's gradient against float64)
    model = MODELS.build(dict(type='SEResNet', depth=18, zero_init_residual=False)).double().train()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    eager = step(model, x)
    model.load_state_dict(state)
    compiled = step(model, x, torch.compile(model, backend='aot_eager'))
    assert compiled[1].keys() == eager[1].keys()
    for name in eager[1]:
        torch.testing.assert_close(compiled[1][name], eager[1][name], rtol=1e-6, atol=1e-9, msg=name)


def test_the_se_adds_almost_nothing_to_what_backward_keeps():
    x = torch.randn(2, 3, 96, 96)

    def saved(**cfg):
        model = MODELS.build(dict(type='SEResNet', depth=50, **cfg)).train()
        return saved_activation_bytes(model, lambda: model(x)[-1].sum().backward())
    plain_r50 = saved(se_stages=(False, ) * 4)
    ours = saved()
    model = MODELS.build(dict(type='SEResNet', depth=50)).train()
    set_fused_backward(model, False)
    plain_autograd = saved_activation_bytes(model, lambda: model(x)[-1].sum().backward())
    assert ours / plain_r50 <= 1.05 < plain_autograd / plain_r50
