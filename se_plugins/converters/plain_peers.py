"""The peers' plain networks and the SE networks their weights go into, each network's key map beside it.

No peer ships SE-VGG, SE-BN-Inception, SE-Inception-ResNet-v2, SE-MobileNet or SE-ShuffleNet, but
each plain network's weights are at hand: timm's ``vgg16_bn`` (torchvision's file has the same
keys), Cadene's ``pretrainedmodels`` ``bninception``, timm's ``inception_resnet_v2`` and
``mobilenetv1_100``, mmpretrain's ``shufflenet_v1`` (1x, g = 3). Every tensor of the source goes
to the tensor of the SE network that plays its part (names and shapes checked, nothing left
over); the SE layers, which the source has not got, are written freshly initialised and listed in
the checkpoint's ``meta['initialised']``. Used by :func:`convert_state_dict`.
"""
import re
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch

from se_plugins.models.backbones.se_bninception import STAGES
from se_plugins.registry import MODELS

from .common import IMAGENET_RGB, INCEPTION_RGB, fit_to_backbone, is_se_key


def _vgg_keys(key: str) -> str:
    # timm/torchvision: features.<k> with conv, BN, ReLU at k, k+1, k+2 and a max-pool after each
    # stage; mmpretrain's VGG: features.<j> with one ConvModule (conv, bn) per conv, then the pool
    match = re.match(r'features\.(\d+)\.(.+)', key)
    if match:
        index, rest = int(match.group(1)), match.group(2)
        return f'features.{_VGG16_FEATURES.get(index, index)}.{rest}'
    key = re.sub(r'^pre_logits\.fc1\.', 'classifier.0.', key)
    key = re.sub(r'^pre_logits\.fc2\.', 'classifier.3.', key)
    return re.sub(r'^head\.fc\.', 'classifier.6.', key)


def _vgg16_features() -> Dict[int, str]:
    mapping, source, target = {}, 0, 0
    for num_convs in (2, 2, 3, 3, 3):
        for _ in range(num_convs):
            mapping[source], mapping[source + 1] = f'{target}.conv', f'{target}.bn'
            source, target = source + 3, target + 1
        source, target = source + 1, target + 1  # the max-pool
    return mapping


_VGG16_FEATURES = _vgg16_features()


def _vgg_tensor(key: str, value: torch.Tensor) -> torch.Tensor:
    # timm holds fc6/fc7 as 7x7 and 1x1 convs; mmpretrain (like torchvision) as linear layers
    return value.flatten(1) if key in ('classifier.0.weight', 'classifier.3.weight') else value


_BN_INCEPTION_STAGE = {name: stage for stage, names in enumerate(STAGES) for name in names}
_BN_INCEPTION_BRANCH = {'1x1': '1x1', '3x3_reduce': '3x3.3x3_reduce', '3x3': '3x3.3x3',
                        'double_3x3_reduce': 'double_3x3.double_3x3_reduce',
                        'double_3x3_1': 'double_3x3.double_3x3_1', 'double_3x3_2': 'double_3x3.double_3x3_2',
                        'pool_proj': 'pool.pool_proj'}


def _bninception_keys(key: str) -> str:
    name, _, param = key.rpartition('.')
    layer = 'bn' if name.endswith('_bn') else 'conv'
    name = name[:-len('_bn')] if layer == 'bn' else name
    if name == 'last_linear':
        return f'head.fc.{param}'
    match = re.fullmatch(r'inception_(\d[a-e])_(.+)', name)
    if match:
        module, branch = match.groups()
        branch = _BN_INCEPTION_BRANCH.get(branch, branch)
        return f'stages.{_BN_INCEPTION_STAGE.get(module, module)}.inception_{module}.branches.{branch}.{layer}.{param}'
    return f'stem.{name}.{layer}.{param}'


_IRV2_PARENT = {'conv2d_1a': 'stem', 'conv2d_2a': 'stem', 'conv2d_2b': 'stem', 'conv2d_3b': 'stem', 'conv2d_4a': 'stem',
                'mixed_5b': 'stages.0', 'repeat': 'stages.0', 'mixed_6a': 'stages.1', 'repeat_1': 'stages.1',
                'mixed_7a': 'stages.2', 'repeat_2': 'stages.2', 'block8': 'stages.2', 'conv2d_7b': 'stages.2'}


def _inception_resnet_v2_keys(key: str) -> str:
    top, _, rest = key.partition('.')
    if top == 'classif':
        return f'head.fc.{rest}'
    return f'{_IRV2_PARENT[top]}.{key}' if top in _IRV2_PARENT else key


_MOBILENET_PARTS = {'conv_dw': 'conv_dw.conv', 'bn1': 'conv_dw.bn', 'conv_pw': 'conv_pw.conv', 'bn2': 'conv_pw.bn'}


def _mobilenet_v1_keys(key: str) -> str:
    match = re.fullmatch(r'blocks\.(\d+)\.(\d+)\.(\w+)\.(\w+)', key)
    if match:
        stage, block, part, param = match.groups()
        return f'stages.{stage}.{block}.{_MOBILENET_PARTS.get(part, part)}.{param}'
    key = re.sub(r'^conv_stem\.', 'stem.conv.', key)
    key = re.sub(r'^bn1\.', 'stem.bn.', key)
    return re.sub(r'^classifier\.', 'head.fc.', key)


def _mmpretrain_keys(key: str) -> str:
    return key[len('backbone.'):] if key.startswith('backbone.') else key


@dataclass(frozen=True)
class PlainPeer:
    """A peer's plain network and the SE network its weights go into.

    Args:
        backbone: The se_plugins backbone config (registered in our scope).
        rename: Source key -> our key (backbone keys bare, the classifier ``head.fc.*``).
        feat_channels: Input features of the classifier ``head.fc`` (``None``: in the backbone).
        data_preprocessor: The normalisation the source weights expect, in mmpretrain's terms.
        tensor: A reshape of one tensor, by our key, where the layouts differ.
    """
    backbone: dict
    rename: Callable[[str], str]
    feat_channels: Optional[int]
    data_preprocessor: dict
    tensor: Callable[[str, torch.Tensor], torch.Tensor] = lambda key, value: value


PLAIN_PEERS: Dict[Tuple[str, str], PlainPeer] = {
    ('timm', 'vgg16_bn'): PlainPeer(dict(type='SEVGG', depth=16, num_classes=1000), _vgg_keys, None,
                                    IMAGENET_RGB, _vgg_tensor),
    # Cadene's port of the Caffe model: BGR input on 0-255, mean subtracted, no std
    ('pretrainedmodels', 'bninception'): PlainPeer(dict(type='SEBNInception'), _bninception_keys, 1024,
                                                   dict(mean=[104, 117, 128], std=[1, 1, 1], to_rgb=False)),
    ('timm', 'inception_resnet_v2'): PlainPeer(dict(type='SEInceptionResNetV2'), _inception_resnet_v2_keys, 1536,
                                               INCEPTION_RGB),
    ('timm', 'mobilenetv1_100'): PlainPeer(dict(type='SEMobileNetV1'), _mobilenet_v1_keys, 1024, INCEPTION_RGB),
    ('mmpretrain', 'shufflenet_v1'): PlainPeer(dict(type='SEShuffleNetV1', groups=3), _mmpretrain_keys, 960,
                                               IMAGENET_RGB),
}


def convert_plain(state_dict: Dict[str, torch.Tensor], source: str,
                  arch: str) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Convert a peer's plain weights into its SE network (this module's docstring).

    Args:
        state_dict: The source tensors.
        source: The source library.
        arch: The source architecture, a key of :data:`PLAIN_PEERS` with ``source``.
    """
    peer = PLAIN_PEERS[(source, arch)]
    renamed = {}
    for key, value in state_dict.items():
        new_key = peer.rename(key)
        renamed[new_key] = peer.tensor(new_key, value)
    backbone = MODELS.build(peer.backbone)
    fresh = backbone.state_dict()
    converted, num_classes = fit_to_backbone(renamed, backbone, peer.feat_channels,
                                             f'{source} {arch} weights do not fit {peer.backbone}', is_se_key)
    if peer.feat_channels is None:  # the classifier is the backbone's own
        num_classes = backbone.num_classes
    initialised = sorted(k for k in fresh if is_se_key(k))
    converted.update({f'backbone.{k}': fresh[k] for k in initialised})
    meta = dict(source=source, arch=arch, backbone_cfg=dict(peer.backbone, type=f'se_plugins.{peer.backbone["type"]}'),
                num_classes=num_classes, data_preprocessor=dict(peer.data_preprocessor),
                initialised=[f'backbone.{k}' for k in initialised])
    return converted, meta
