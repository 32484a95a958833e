"""Converted weights give the peer's logits: timm, Cadene's pretrainedmodels, mmpretrain."""
import os
import re
import subprocess
import sys

import pretrainedmodels
import pytest
import timm
import torch
import torch.nn as nn
from mmengine.runner import load_checkpoint

import se_plugins  # noqa: F401
from se_plugins.building import build_classifier, without_initialisation
from se_plugins.converters import PLAIN_PEERS, SOURCE_ARCHS, ConversionError, convert_state_dict, load_state_dict
from se_plugins.registry import MODELS

from helpers import REPO, build_peer, randomize, run_command_line

TOOL = os.path.join(REPO, 'tools', 'model_converters', 'se_convert.py')


def convert(*args: str) -> int:
    """The converter's command line, run in this process (its argument parsing and exit status)."""
    return run_command_line('model_converters/se_convert.py', *args)


def peer_logits(source: str, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x, mode='tensor') if source == 'mmpretrain' else model(x)


CASES = [(source, arch) for source in ('timm', 'pretrainedmodels', 'mmpretrain')
         for arch in SOURCE_ARCHS[source] if (source, arch) not in PLAIN_PEERS]


def deeper_twin(arch: str) -> bool:
    """A 101- or 152-layer SE-ResNet(-Xt): the same key mapping and blocks as its family's 50-layer model."""
    return 'senet154' not in arch and re.search(r'(101|152)', arch) is not None


@pytest.mark.parametrize('source, arch', CASES, ids=[f'{s}-{a}' for s, a in CASES])
def test_converted_weights_give_the_peers_logits(source, arch, tmp_path):
    """Every architecture converts, is inferred from its shapes and loads strictly; the logits are compared where
    a family's layout and blocks are (depths 18 to 50 and SENet-154), not again for its deeper twins."""
    size = 224  # Cadene's models pool with a fixed 7x7 window
    if deeper_twin(arch):  # converted and loaded, not run
        with without_initialisation():
            peer = build_peer(source, arch)
    else:
        peer = randomize(build_peer(source, arch), size)
    src, dst = tmp_path / 'peer.pth', tmp_path / 'converted.pth'
    if source == 'mmpretrain':
        torch.save(dict(state_dict=peer.state_dict(), meta=dict(epoch=1)), src)
    else:
        torch.save(peer.state_dict(), src)

    assert convert(str(src), str(dst), '--from', source) == 0  # the architecture inferred
    checkpoint = torch.load(dst, weights_only=True)
    meta = checkpoint['meta']
    assert meta['arch'] == arch and meta['source'] == source
    named_state_dict, named_meta = convert_state_dict(load_state_dict(str(src)), source, arch)
    assert named_meta == {k: v for k, v in meta.items() if k != 'source_file'}
    assert named_state_dict.keys() == checkpoint['state_dict'].keys()

    with without_initialisation():  # every tensor comes from the checkpoint
        ours = build_classifier(meta['backbone_cfg'], meta['num_classes'], 2048 if not arch.endswith(
            ('18', '34')) else 512)
    load_checkpoint(ours, str(dst), strict=True, logger='silent')
    if deeper_twin(arch):
        return
    ours.eval()
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, actual = peer_logits(source, peer, x), ours(x, mode='tensor')
    assert expected.abs().max() > 1e-2  # the comparison is not between two vanishing outputs
    assert (actual - expected).abs().max() <= 1e-4


def build_plain_peer(source: str, arch: str) -> nn.Module:
    if source == 'mmpretrain':  # mmpretrain's ShuffleNet 1x (g = 3) classifier
        return build_classifier(dict(type='mmpretrain.ShuffleNetV1', groups=3), 1000, 960)
    return build_peer(source, arch)


@pytest.mark.parametrize('source, arch', sorted(PLAIN_PEERS), ids=[f'{s}-{a}' for s, a in sorted(PLAIN_PEERS)])
def test_a_plain_peers_weights_load_into_its_se_network(source, arch, tmp_path):
    """Every tensor of the peer lands in the SE network; with SE off it gives the peer's logits; the SE
    layers come freshly initialised and are listed."""
    # VGG's classifier and BN-Inception's pooling take 224 pixels, Inception-ResNet-v2 is made for 299; the rest pool
    size = {'vgg16_bn': 224, 'bninception': 224, 'inception_resnet_v2': 299}.get(arch, 64)
    peer = randomize(build_plain_peer(source, arch), size)
    src, dst = tmp_path / 'peer.pth', tmp_path / 'converted.pth'
    torch.save(peer.state_dict(), src)
    assert convert(str(src), str(dst), '--from', source, '--arch', arch) == 0
    checkpoint = torch.load(dst, weights_only=True)
    meta, state_dict = checkpoint['meta'], checkpoint['state_dict']
    backbone_cfg = meta['backbone_cfg']
    feat_channels = PLAIN_PEERS[(source, arch)].feat_channels
    with without_initialisation():  # every tensor comes from the checkpoint
        se_net = build_classifier(backbone_cfg, meta['num_classes'], feat_channels)
        plain = build_classifier(dict(backbone_cfg, with_se=False), meta['num_classes'], feat_channels)
    load_checkpoint(se_net, str(dst), strict=True, logger='silent')  # every tensor, the SE layers included
    se_keys = [k for k in se_net.state_dict() if '.se.' in k]
    assert meta['initialised'] == sorted(se_keys) and len(se_keys) > 0
    plain.load_state_dict({k: v for k, v in state_dict.items() if k not in meta['initialised']}, strict=True)
    plain.eval()
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = peer(x, mode='tensor') if source == 'mmpretrain' else peer(x)
        actual = plain(x, mode='tensor')
    assert expected.abs().max() > 1e-2
    assert (actual - expected).abs().max() <= 1e-4


def test_plain_peers_normalisation_is_the_sources():
    for source, arch in PLAIN_PEERS:
        _, meta = convert_state_dict(build_plain_peer(source, arch).state_dict(), source, arch)
        norm = meta['data_preprocessor']
        if source == 'pretrainedmodels':
            settings = pretrainedmodels.pretrained_settings[arch]['imagenet']
            assert settings['input_space'] == 'BGR' and settings['input_range'] == [0, 255]
            assert norm == dict(mean=settings['mean'], std=settings['std'], to_rgb=False)
        elif source == 'timm':
            cfg = timm.create_model(arch).pretrained_cfg
            assert norm['to_rgb'] is True
            assert norm['mean'] == pytest.approx([255 * m for m in cfg['mean']], abs=1e-3)
            assert norm['std'] == pytest.approx([255 * s for s in cfg['std']], abs=1e-3)


def test_a_plain_peer_with_the_wrong_arch_names_the_keys():
    state_dict = timm.create_model('mobilenetv1_100').state_dict()
    with pytest.raises(ConversionError, match='timm vgg16_bn weights do not fit .* missing keys: backbone.'):
        convert_state_dict(state_dict, 'timm', 'vgg16_bn')


def test_cadene_layout_is_reproduced_by_the_backbone_cfg():
    state_dict = pretrainedmodels.__dict__['se_resnet50'](num_classes=1000, pretrained=None).state_dict()
    _, meta = convert_state_dict(state_dict, 'pretrainedmodels')
    assert meta['backbone_cfg'] == dict(type='se_plugins.SEResNet', depth=50, stem_pool='caffe',
                                        style='caffe')
    _, meta = convert_state_dict(timm.create_model('seresnext50_32x4d').state_dict(), 'timm')
    assert meta['backbone_cfg'] == dict(type='se_plugins.SEResNeXt', depth=50, groups=32,
                                        width_per_group=4)


@pytest.mark.parametrize('source, arch', [('timm', 'seresnet50'), ('timm', 'legacy_senet154'),
                                          ('pretrainedmodels', 'se_resnet50')])
def test_meta_normalisation_is_the_sources(source, arch):
    if source == 'timm':
        cfg = timm.create_model(arch).pretrained_cfg
        mean, std = cfg['mean'], cfg['std']
    else:
        settings = pretrainedmodels.pretrained_settings[arch]['imagenet']
        assert settings['input_space'] == 'RGB' and settings['input_range'] == [0, 1]
        mean, std = settings['mean'], settings['std']
    _, meta = convert_state_dict(build_peer(source, arch).state_dict(), source, arch)
    norm = meta['data_preprocessor']
    assert norm['to_rgb'] is True
    assert norm['mean'] == pytest.approx([255 * m for m in mean], abs=1e-3)
    assert norm['std'] == pytest.approx([255 * s for s in std], abs=1e-3)


def test_mmdet_loads_the_converted_backbone_with_a_prefix(tmp_path):
    from mmdet.registry import MODELS as MMDET_MODELS
    src, dst = tmp_path / 'timm.pth', tmp_path / 'converted.pth'
    peer = timm.create_model('seresnet50')
    torch.save(peer.state_dict(), src)
    assert convert(str(src), str(dst), '--from', 'timm') == 0
    backbone = MMDET_MODELS.build(dict(type='se_plugins.SEResNet', depth=50, out_indices=(0, 1, 2, 3),
                                       init_cfg=dict(type='Pretrained', checkpoint=str(dst),
                                                     prefix='backbone.')))
    backbone.init_weights()
    for key, value in backbone.state_dict().items():  # timm's SE FCs are 1x1 convs, ours linear layers
        torch.testing.assert_close(value, peer.state_dict()[key].reshape(value.shape), msg=key)


def test_wrong_arch_fails_with_the_key_list_and_writes_nothing(tmp_path):
    src, dst = tmp_path / 'seresnet101.pth', tmp_path / 'out' / 'converted.pth'
    dst.parent.mkdir()
    torch.save(timm.create_model('seresnet101').state_dict(), src)
    result = subprocess.run([sys.executable, TOOL, str(src), str(dst), '--from', 'timm', '--arch', 'seresnet50'],
                            capture_output=True, text=True)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]  # one line says it all
    assert last.startswith(f'error: {src}: timm seresnet50 weights do not fit')
    assert 'unexpected keys: backbone.layer3.10.bn1.bias' in last
    assert 'backbone.layer3.22.se.fc2.weight' in last
    assert last.endswith(f'; nothing was written to {dst}')
    assert 'Traceback' not in result.stderr
    assert list(dst.parent.iterdir()) == []  # no output, no temporary file


@pytest.mark.parametrize('source, arch, message', [
    ('timm', 'resnet50', "unknown timm arch 'resnet50'; choose one of"),
    ('caffe', None, "unknown source 'caffe'; choose one of ['timm', 'pretrainedmodels', 'mmpretrain']"),
    ('mmpretrain', None, "the keys are in the 'resnet' layout, which mmpretrain does not use"),
    ('timm', 'legacy_seresnet18', "timm legacy_seresnet18 has the 'cadene' key layout, but the keys are "
                                  "in the 'resnet' layout; did you mean 'seresnet18'?"),
])
def test_bad_source_or_arch(source, arch, message):
    state_dict = MODELS.build(dict(type='SEResNet', depth=18)).state_dict()
    with pytest.raises(ConversionError, match=message.replace('[', r'\[').replace(']', r'\]')):
        convert_state_dict(state_dict, source, arch)


def test_unreadable_or_missing_source_file_names_it(tmp_path):
    truncated = tmp_path / 'truncated.pth'
    torch.save(timm.create_model('seresnet18').state_dict(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:1000])
    dst = tmp_path / 'out.pth'
    assert convert(str(truncated), str(dst), '--from', 'timm') == 1
    assert convert(str(tmp_path / 'missing.pth'), str(dst), '--from', 'timm') == 1
    assert not dst.exists()
    with pytest.raises(ConversionError, match='truncated.pth: not a readable PyTorch checkpoint'):
        load_state_dict(str(truncated))
