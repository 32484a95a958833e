"""What every se_plugins backbone shares (se_plugins/models/backbones/se_options.py): the same SE arguments,
reaching every SE block; ``nn.Identity`` as "no SE"; ``train()`` and ``eval()`` returning the backbone."""
import re

import pytest
import torch.nn as nn

from se_plugins.building import without_initialisation
from se_plugins.models.backbones import SEOptionsMixin
from se_plugins.models.layers import SqueezeExcitation
from se_plugins.registry import MODELS
from se_plugins.utils import InputError

from helpers import NETWORKS

BACKBONES = sorted(name for name, cls in MODELS.module_dict.items()
                   if isinstance(cls, type) and issubclass(cls, SEOptionsMixin))


def build(name: str, registry=MODELS, **kwargs) -> nn.Module:
    """The backbone with its smallest arguments (the shallowest depth of the ResNet family), built by
    ``registry`` (ours: ``type=name``; another library's: ``type='se_plugins.<name>'``)."""
    cls = MODELS.get(name)
    args = NETWORKS[name][0] if name in NETWORKS else dict(depth=min(cls.arch_settings))
    kind = name if registry is MODELS else f'se_plugins.{name}'
    return registry.build(dict(type=kind, **args, **kwargs))


def test_every_network_of_the_package_uses_the_mixin():
    assert set(NETWORKS) | {'SEResNet', 'SEResNeXt', 'SENet154'} <= set(BACKBONES)


@pytest.mark.parametrize('library', ['mmdet', 'mmpretrain'])
@pytest.mark.parametrize('name', BACKBONES)
def test_builds_from_mmdet_and_mmpretrain_registries(library, name):
    registry = __import__(f'{library}.registry', fromlist=['MODELS']).MODELS
    with without_initialisation():  # its class is what is checked
        assert type(build(name, registry)) is MODELS.get(name)


@pytest.mark.parametrize('name', BACKBONES)
def test_the_se_options_reach_every_se_block(name):
    with without_initialisation():  # its structure is what is checked
        model = build(name, se_ratio=4, se_divisor=8, se_squeeze='max', se_gate='hsigmoid')
    blocks = [m for m in model.modules() if isinstance(m, SqueezeExcitation)]
    assert blocks
    for se in blocks:
        assert se.squeeze_channels % 8 == 0 and se.squeeze == 'max' and se.gate_name == 'hsigmoid', name
        assert se.squeeze_channels == max(8, int(se.channels / 4 + 4) // 8 * 8)  # C / r to the nearest 8


@pytest.mark.parametrize('name', BACKBONES)
def test_without_se_every_se_is_the_identity_and_train_returns_the_backbone(name):
    model = build(name, with_se=False)
    assert not any(isinstance(m, SqueezeExcitation) for m in model.modules())
    assert any(type(m) is nn.Identity for n, m in model.named_modules() if 'se' in n.split('.'))
    assert model.train() is model and model.training
    assert model.eval() is model and not model.training


@pytest.mark.parametrize('option, value, message', [
    ('se_divisor', 0, 'se_divisor must be a positive integer, got 0'),
    ('se_ratio', 0, 'se_ratio must be a positive integer, got 0'),
    ('se_gate', 'swish', "se_gate='swish' is not supported; choose one of ['hsigmoid', 'relu', 'sigmoid', 'tanh']"),
    ('se_squeeze', 'median', "se_squeeze='median' is not supported; choose one of ['avg', 'avgmax', 'max']"),
])
@pytest.mark.parametrize('name', BACKBONES)
def test_a_bad_option_is_one_error_naming_it(name, option, value, message):
    with pytest.raises(InputError, match=re.escape(message)):
        build(name, **{option: value})
