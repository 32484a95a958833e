"""The paper's SE networks beyond the ResNets: SE-VGG-16, SE-BN-Inception, SE-Inception-ResNet-v2,
SE-MobileNet, SE-ShuffleNet. Each is checked against its plain peer (timm, pretrainedmodels,
mmpretrain) with random weights."""
import pretrainedmodels
import pytest
import timm
import torch
import torch.nn as nn
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm
from mmpretrain.models.backbones import VGG, ShuffleNetV1

from se_plugins.building import without_initialisation
from se_plugins.models.backbones import StagedSEBackbone
from se_plugins.models.layers import SqueezeExcitation
from se_plugins.registry import MODELS
from se_plugins.utils import InputError

from helpers import NETWORKS, count_parameters


def build(name: str, **kwargs) -> nn.Module:
    return MODELS.build(dict(type=name, **{**NETWORKS[name][0], **kwargs}))


def all_stages(name: str) -> tuple:
    return tuple(range(len(NETWORKS[name][2])))


def test_every_network_of_the_papers_table_is_registered():
    ours = {name for name, cls in MODELS.module_dict.items() if cls.__module__.startswith('se_plugins.models')}
    assert set(NETWORKS) <= ours


@pytest.mark.parametrize('name', sorted(NETWORKS))
def test_se_blocks_and_output_channels(name):
    _, num_se, channels, size = NETWORKS[name]
    model = build(name, out_indices=all_stages(name)).eval()
    assert sum(isinstance(m, SqueezeExcitation) for m in model.modules()) == num_se
    with torch.no_grad():
        outs = model(torch.randn(2, 3, size, size))
    assert [o.shape[1] for o in outs] == list(channels)
    plain = build(name, with_se=False)
    assert not any(isinstance(m, SqueezeExcitation) for m in plain.modules())


# The plain network's parameters without a classifier, from the peer implementation.
def _peer_counts():
    return {
        'SEVGG': lambda: count_parameters(timm.create_model('vgg16_bn').features),
        'SEBNInception': lambda: count_parameters(pretrainedmodels.bninception(pretrained=None)) - (1024 * 1000 + 1000),
        'SEInceptionResNetV2': lambda: count_parameters(timm.create_model('inception_resnet_v2', num_classes=0)),
        'SEMobileNetV1': lambda: count_parameters(timm.create_model('mobilenetv1_100', num_classes=0)),
        'SEShuffleNetV1': lambda: count_parameters(ShuffleNetV1(groups=3)),
    }


@pytest.mark.parametrize('name', sorted(NETWORKS))
def test_without_se_the_parameters_are_the_peers(name):
    with without_initialisation():  # counted, not run
        assert count_parameters(build(name, with_se=False)) == _peer_counts()[name]()


def test_se_vgg_without_se_is_mmpretrains_vgg_tensor_for_tensor():
    ours = build('SEVGG', with_se=False, num_classes=1000)
    peer = VGG(depth=16, norm_cfg=dict(type='BN'), num_classes=1000)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in peer.state_dict().items()}
    ours.load_state_dict(peer.state_dict())
    ours.eval(), peer.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), peer(x))


@pytest.mark.parametrize('name', sorted(NETWORKS))
def test_trains_a_step_and_every_se_gets_gradients(name):
    model = build(name).train()
    size = NETWORKS[name][3]
    loss = model(torch.randn(2, 3, size, size))[-1].pow(2).mean()
    loss.backward()
    for se in (m for m in model.modules() if isinstance(m, SqueezeExcitation)):
        assert se.fc1.weight.grad is not None and se.fc1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('name', sorted(NETWORKS))
def test_frozen_stages_and_norm_eval(name):
    with without_initialisation():  # which parts train is what is checked
        model = build(name, frozen_stages=1).train()
    if isinstance(model, StagedSEBackbone):
        frozen, trained = [model.stem, model.stages[0]], model.stages[1]
    elif name == 'SEShuffleNetV1':
        frozen, trained = [model.conv1, model.layers[0]], model.layers[1]
    else:  # VGG: the first stage's convs and their SE blocks
        start, end = model.range_sub_modules[0]
        frozen = [*model.features[start:end], *(model.se[str(i)] for i in range(start, end) if str(i) in model.se)]
        trained = model.features[slice(*model.range_sub_modules[1])]
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not m.training for m in module.modules() if isinstance(m, _BatchNorm))
    assert all(p.requires_grad for p in trained.parameters())
    assert all(m.training for m in trained.modules() if isinstance(m, _BatchNorm))
    model = build(name, norm_eval=True).train()
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))


@pytest.mark.parametrize('name, kwargs, error, message', [
    ('SEVGG', dict(depth=15), KeyError, "depth of SEVGG=15 is not supported; choose one of [11, 13, 16, 19]"),
    ('SEShuffleNetV1', dict(groups=5), KeyError, 'groups of SEShuffleNetV1=5 is not supported'),
    ('SEMobileNetV1', dict(widen_factor=0), InputError, 'widen_factor of SEMobileNetV1 must be a positive number'),
    ('SEMobileNetV1', dict(se_ratio=128), InputError, 'SqueezeExcitation on 64 channels with ratio 128 has 0'),
    ('SEBNInception', dict(out_indices=(3, )), InputError, 'out_indices of SEBNInception: 3 is not a stage index'),
    ('SEMobileNetV1', dict(frozen_stages=7), InputError, 'frozen_stages of SEMobileNetV1 must be -1 to 5'),
])
def test_bad_settings_fail_at_build_time_with_one_clear_error(name, kwargs, error, message):
    with pytest.raises(error) as info:
        build(name, **kwargs)
    assert isinstance(info.value, InputError) and message in str(info.value)


def test_bn_inception_names_the_input_sizes_it_takes():
    model = build('SEBNInception').eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 96, 160))[0].shape == (1, 1024, 3, 5)
        with pytest.raises(InputError, match='multiples of 32 .*, got 56x56'):
            model(torch.randn(1, 3, 56, 56))
