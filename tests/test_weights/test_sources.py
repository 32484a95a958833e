"""Public SE weights by name (timm://, pretrainedmodels://): the files placed where timm, huggingface_hub and
torch.hub cache them (random weights, offline), converted as they load, give the source model's logits."""
import re

import pytest
import torch
from mmengine.runner import load_checkpoint

from se_plugins.building import build_classifier
from se_plugins.weights import WeightsSourceError, fetch

from helpers import build_peer, randomize

SIZE = 224  # Cadene's models pool with a fixed 7x7 window

# (the source's name of the weights, the peer that wrote them, how its file is cached)
CASES = [
    ('timm://seresnet50.a1_in1k', ('timm', 'seresnet50'), 'hugging face'),
    ('timm://legacy_seresnet18.in1k', ('timm', 'legacy_seresnet18'), 'url'),
    ('pretrainedmodels://se_resnet50', ('pretrainedmodels', 'se_resnet50'), 'url'),
]


def place(caches, uri: str, peer) -> str:
    """Cache ``peer``'s weights where the source's own library would have cached them."""
    if uri.startswith('pretrainedmodels://'):
        from pretrainedmodels import pretrained_settings
        return caches.place_in_torch_hub(pretrained_settings[uri.split('//')[1]]['imagenet']['url'], peer.state_dict())
    return caches.place_timm_weights(uri.split('//')[1], peer.state_dict())


@pytest.mark.parametrize('uri, peer, cached', CASES, ids=[case[0] for case in CASES])
def test_public_weights_load_converted_and_give_the_sources_logits(uri, peer, cached, hub_caches):
    peer = randomize(build_peer(*peer), SIZE)
    place(hub_caches, uri, peer)
    file, source, arch = fetch(uri)
    assert file.startswith(hub_caches.hf_home if cached == 'hugging face' else hub_caches.torch_home)
    ours = build_classifier(dict(type='se_plugins.SEResNet', depth=50), 1000, 2048)
    checkpoint = load_checkpoint(ours, uri, strict=False, logger='silent')  # the meta says what network it is
    meta = checkpoint['meta']
    assert (meta['source'], meta['arch']) == (source, arch)
    ours = build_classifier(meta['backbone_cfg'], 1000, 512 if arch.endswith('18') else 2048).eval()
    load_checkpoint(ours, uri, strict=True, logger='silent')
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, actual = peer(x), ours(x, mode='tensor')
    assert expected.abs().max() > 1e-2
    assert (actual - expected).abs().max() <= 1e-4


@pytest.mark.parametrize('uri', [case[0] for case in CASES])
def test_an_empty_cache_offline_names_the_file_and_where_to_put_it(uri, hub_caches):
    with pytest.raises(WeightsSourceError) as raised:
        fetch(uri)
    message = str(raised.value)
    assert message.startswith(f'{uri}: ')
    if uri == 'timm://seresnet50.a1_in1k':
        assert re.search(r'model\.safetensors of the Hugging Face repository timm/seresnet50\.a1_in1k is not in the '
                         r'cache and could not be fetched \(HF_HUB_OFFLINE is set\)', message), message
        assert f'put it at {hub_caches.hugging_face_cache}/models--timm--seresnet50.a1_in1k/snapshots/<revision>/' \
               'model.safetensors' in message
    else:
        assert re.search(rf'put that file at {re.escape(hub_caches.torch_home)}/hub/checkpoints/\S+\.pth$',
                         message), message


def test_a_name_no_source_has_is_one_error_with_where_to_look(hub_caches):
    with pytest.raises(WeightsSourceError, match=r"timm has no pretrained weights named 'seresnet50\.b9_in1k'"):
        fetch('timm://seresnet50.b9_in1k')
    with pytest.raises(WeightsSourceError, match=r"pretrainedmodels has no ImageNet weights named 'se_resnet49'; "
                                                 r'its SE ones: .*se_resnet50'):
        fetch('pretrainedmodels://se_resnet49')
