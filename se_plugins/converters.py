"""Convert public SE-ResNet / SE-ResNeXt / SENet-154 weights into se_plugins checkpoints, and the
peers' plain VGG-16, BN-Inception, Inception-ResNet-v2, MobileNet and ShuffleNet weights into the
SE versions of those networks (the SE layers freshly initialised).

Sources and their layouts:

- ``timm``: ``seresnet*``, ``seresnext*``, ``senet154`` (timm's ResNet: ``layerN.i.se.fc1``, ``fc``,
  stride on the 3x3, padded max-pool), and the ``legacy_*`` twins, which keep the original release's
  layout as Cadene ported it (``layer0.*``, ``se_module``, ``last_linear``).
- ``pretrainedmodels`` (Cadene): ``se_resnet*``, ``se_resnext*``, ``senet154``. SE-ResNets put the
  stride on the first 1x1 conv; every model uses a ceil-mode max-pool without padding.
- ``mmpretrain``: ``SEResNet`` / ``SEResNeXt`` checkpoints (``backbone.layerN.i.se_layer.conv1.conv``).
- Plain networks (``--arch`` required): timm ``vgg16_bn``, ``inception_resnet_v2``, ``mobilenetv1_100``;
  pretrainedmodels ``bninception``; mmpretrain ``shufflenet_v1``: see :data:`PLAIN_PEERS`.

The output is an mmpretrain-style checkpoint: ``state_dict`` with ``backbone.*`` and ``head.fc.*``
keys, and ``meta`` with the source, the architecture, the ``backbone_cfg`` that reproduces the source
exactly and the ``data_preprocessor`` normalisation the weights expect.
"""
import copy
import os
import re
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch
from mmpretrain.models.utils import make_divisible

from se_plugins.models.backbones.se_bninception import STAGES
from se_plugins.registry import MODELS
from se_plugins.utils import InputError, atomic_save

SOURCES = ('timm', 'pretrainedmodels', 'mmpretrain')

# All three sources' ImageNet weights expect RGB input normalised with the ImageNet mean/std
# (timm's pretrained_cfg, pretrainedmodels' pretrained_settings, mmpretrain's configs), on 0-255
# pixels as mmpretrain's data preprocessor sees them. The original Caffe release, which none of
# these files are, expected BGR with mean (104, 117, 123) and no std.
IMAGENET_RGB = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
# timm's Inception-ResNet-v2 and MobileNet v1 weights expect pixels mapped to [-1, 1] (its "inception" mean/std).
INCEPTION_RGB = dict(mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True)


def _se_resnet(depth: int, **kwargs) -> dict:
    return dict(type='SEResNet', depth=depth, **kwargs)


def _se_resnext(depth: int, groups: int) -> dict:
    return dict(type='SEResNeXt', depth=depth, groups=groups, width_per_group=4)


# Each architecture name and the backbone it is, before the source file's layout is applied.
ARCHS: Dict[str, dict] = {
    'seresnet18': _se_resnet(18, se_divisor=8),
    'seresnet34': _se_resnet(34, se_divisor=8),
    'seresnet50': _se_resnet(50),
    'seresnet101': _se_resnet(101),
    'seresnet152': _se_resnet(152),
    'seresnext50_32x4d': _se_resnext(50, 32),
    'seresnext101_32x4d': _se_resnext(101, 32),
    'seresnext101_64x4d': _se_resnext(101, 64),
    'senet154': dict(type='SENet154'),
    # the paper's C // r squeeze width, as in the original release
    'legacy_seresnet18': _se_resnet(18),
    'legacy_seresnet34': _se_resnet(34),
}
ARCHS.update({f'legacy_{name}': ARCHS[name] for name in (
    'seresnet50', 'seresnet101', 'seresnet152', 'seresnext50_32x4d', 'seresnext101_32x4d', 'senet154')})
ARCHS.update({
    'se_resnet50': ARCHS['seresnet50'],
    'se_resnet101': ARCHS['seresnet101'],
    'se_resnet152': ARCHS['seresnet152'],
    'se_resnext50_32x4d': ARCHS['seresnext50_32x4d'],
    'se_resnext101_32x4d': ARCHS['seresnext101_32x4d'],
})

# Plain ImageNet weights of the peers, loaded into the paper's other SE networks.
#
# No peer ships SE-VGG, SE-BN-Inception, SE-Inception-ResNet-v2, SE-MobileNet or SE-ShuffleNet, but
# each plain network's weights are at hand: timm's ``vgg16_bn`` (torchvision's file has the same
# keys), Cadene's ``pretrainedmodels`` ``bninception``, timm's ``inception_resnet_v2`` and
# ``mobilenetv1_100``, mmpretrain's ``shufflenet_v1`` (1x, g = 3). Every tensor of the source goes
# to the tensor of the SE network that plays its part (names and shapes checked, nothing left
# over); the SE layers, which the source has not got, are written freshly initialised and listed in
# the checkpoint's ``meta['initialised']``. Used by :func:`convert_state_dict`.


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


def is_se_key(key: str) -> bool:
    """Whether a key of our backbones belongs to an SE block."""
    return key.startswith('se.') or '.se.' in key


def convert_plain(state_dict: Dict[str, torch.Tensor], source: str,
                  arch: str) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Convert a peer's plain weights into its SE network: the comment above :data:`PLAIN_PEERS`.

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
    expected = {k: v.shape for k, v in fresh.items() if not is_se_key(k)}
    num_classes = 0
    if peer.feat_channels is not None and 'head.fc.weight' in renamed:
        num_classes = renamed['head.fc.weight'].shape[0]
        expected['head.fc.weight'] = torch.Size([num_classes, peer.feat_channels])
        expected['head.fc.bias'] = torch.Size([num_classes])
    elif peer.feat_channels is None:
        num_classes = backbone.num_classes
    converted = {k if k.startswith('head.') else f'backbone.{k}': v for k, v in renamed.items()}
    expected = {k if k.startswith('head.') else f'backbone.{k}': v for k, v in expected.items()}
    _check_keys(converted, expected, f'{source} {arch} weights do not fit {peer.backbone}')
    initialised = sorted(k for k in fresh if is_se_key(k))
    converted.update({f'backbone.{k}': fresh[k] for k in initialised})
    meta = dict(source=source, arch=arch, backbone_cfg=dict(peer.backbone, type=f'se_plugins.{peer.backbone["type"]}'),
                num_classes=num_classes, data_preprocessor=dict(peer.data_preprocessor),
                initialised=[f'backbone.{k}' for k in initialised])
    return converted, meta


SOURCE_ARCHS = {
    'timm': [n for n in ARCHS if not n.startswith('se_')],
    'pretrainedmodels': ['se_resnet50', 'se_resnet101', 'se_resnet152', 'se_resnext50_32x4d',
                         'se_resnext101_32x4d', 'senet154'],
    'mmpretrain': ['seresnet50', 'seresnet101', 'seresnet152', 'seresnext50_32x4d',
                   'seresnext101_32x4d', 'seresnext101_64x4d'],
}
for _source, _arch in PLAIN_PEERS:
    SOURCE_ARCHS[_source].append(_arch)

# Which key layouts each source may hold.
SOURCE_LAYOUTS = {'timm': ('resnet', 'cadene'), 'pretrainedmodels': ('cadene', ), 'mmpretrain': ('mmpretrain', )}


def arch_layout(source: str, arch: str) -> str:
    """The key layout of a source's architecture: timm's ``legacy_*`` keep Cadene's."""
    if source == 'mmpretrain':
        return 'mmpretrain'
    return 'cadene' if source == 'pretrainedmodels' or arch.startswith('legacy_') else 'resnet'


_STAGE_BLOCKS = {
    False: {(2, 2, 2, 2): 18, (3, 4, 6, 3): 34},
    True: {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152},
}


class ConversionError(InputError):
    """A checkpoint that does not convert: wrong source, architecture, keys or shapes."""


def load_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Load the tensors of a checkpoint file: a bare state dict, or one under ``state_dict``/``model``.

    Args:
        path: The checkpoint file. It is loaded with ``weights_only=True``: no code runs.
    """
    if not os.path.isfile(path):
        raise ConversionError(f'{path}: no such checkpoint file')
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        raise ConversionError(f'{path}: not a readable PyTorch checkpoint ({error})') from error
    for key in ('state_dict', 'model'):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
    if not isinstance(checkpoint, dict) or not all(torch.is_tensor(v) for v in checkpoint.values()):
        raise ConversionError(f'{path}: holds no state dict of tensors')
    return checkpoint


def detect_layout(state_dict: Dict[str, torch.Tensor]) -> str:
    """``'cadene'``, ``'mmpretrain'`` or ``'resnet'`` (timm), from the key names."""
    if any(k.startswith('layer0.') or '.se_module.' in k for k in state_dict):
        return 'cadene'
    if any(k.startswith('backbone.') or '.se_layer.' in k for k in state_dict):
        return 'mmpretrain'
    return 'resnet'


def _rename(key: str, layout: str, deep_stem: bool) -> str:
    if layout == 'cadene':
        key = key.replace('.se_module.', '.se.')
        key = re.sub(r'^last_linear\.', 'head.fc.', key)
        if deep_stem:
            return re.sub(r'^layer0\.(conv|bn)([123])\.', lambda m: f'stem.{int(m[2]) - 1}.{m[1]}.', key)
        return re.sub(r'^layer0\.', '', key)
    if layout == 'mmpretrain':
        key = re.sub(r'^backbone\.', '', key)
        return re.sub(r'\.se_layer\.conv([12])\.conv\.', r'.se.fc\1.', key)
    key = re.sub(r'^fc\.', 'head.fc.', key)
    if deep_stem:
        stem = {'conv1.0': 'stem.0.conv', 'conv1.1': 'stem.0.bn', 'conv1.3': 'stem.1.conv',
                'conv1.4': 'stem.1.bn', 'conv1.6': 'stem.2.conv', 'bn1': 'stem.2.bn'}
        prefix, _, rest = key.rpartition('.')
        return f'{stem.get(prefix, prefix)}.{rest}'
    return key


_SE_FC_WEIGHT = re.compile(r'\.se\.fc[12]\.weight$')


def to_se_plugins_keys(state_dict: Dict[str, torch.Tensor], layout: str) -> Dict[str, torch.Tensor]:
    """Rename a source state dict to se_plugins' names: backbone keys bare, classifier ``head.fc.*``;
    the SE's 1x1-conv weights become the matrices of its linear layers."""
    deep_stem = any(k.startswith(('layer0.conv2.', 'conv1.0.')) for k in state_dict)
    renamed = {_rename(k, layout, deep_stem): v for k, v in state_dict.items()}
    return {k: v.flatten(1) if _SE_FC_WEIGHT.search(k) and v.dim() == 4 else v for k, v in renamed.items()}


def infer_backbone_cfg(state_dict: Dict[str, torch.Tensor]) -> dict:
    """The backbone arguments that a (renamed) state dict's tensor shapes imply."""
    try:
        blocks = tuple(1 + max(int(k.split('.')[1]) for k in state_dict if k.startswith(f'layer{s}.'))
                       for s in range(1, 5))
        bottleneck = 'layer1.0.conv3.weight' in state_dict
        conv1, conv2 = state_dict['layer1.0.conv1.weight'], state_dict['layer1.0.conv2.weight']
        se_width = {s: (state_dict[f'layer{s}.0.se.fc2.weight'].shape[0],
                        state_dict[f'layer{s}.0.se.fc1.weight'].shape[0]) for s in (1, 4)}
    except (KeyError, ValueError) as error:
        raise ConversionError(f'not an SE-ResNet/SE-ResNeXt state dict (missing {error})') from error
    depth = _STAGE_BLOCKS[bottleneck].get(blocks)
    if depth is None:
        raise ConversionError(f'blocks per stage {blocks} match no SE-ResNet/SE-ResNeXt depth')
    groups = conv1.shape[0] // conv2.shape[1] if bottleneck else 1
    if groups == 1:
        cfg = _se_resnet(depth)
    elif conv2.shape[0] == conv1.shape[0]:
        cfg = dict(type='SEResNeXt', depth=depth, groups=groups, width_per_group=conv2.shape[0] // groups)
    else:
        cfg = dict(type='SENet154')
    (channels, squeezed), (last_channels, last_squeezed) = se_width[1], se_width[4]
    ratio = last_channels // last_squeezed
    if ratio != 16:
        cfg['se_ratio'] = ratio
    if squeezed != channels // ratio:
        if squeezed != make_divisible(channels / ratio, 8, min_ratio=0.0):
            raise ConversionError(f'SE width {squeezed} for {channels} channels fits neither C // {ratio} '
                                  'nor a multiple of 8')
        cfg['se_divisor'] = 8
    return cfg


def apply_layout(cfg: dict, layout: str) -> dict:
    """Add the arguments that reproduce a source layout (Cadene's ports and timm's legacy models)."""
    cfg = copy.deepcopy(cfg)
    if layout == 'cadene':
        cfg['stem_pool'] = 'caffe'
        if cfg['type'] == 'SEResNet' and cfg['depth'] >= 50:
            cfg['style'] = 'caffe'  # the stride on the first 1x1 conv, as in the Caffe release
        elif cfg['type'] == 'SEResNet':
            cfg['branch_relu'] = True  # timm's legacy SE-ResNet-18/34 blocks: ReLU before the SE
    return cfg


def _check_keys(converted: Dict[str, torch.Tensor], expected: Dict[str, torch.Size], what: str) -> None:
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    wrong_shape = sorted(f'{k}: {tuple(converted[k].shape)} vs {tuple(expected[k])}'
                         for k in set(converted) & set(expected) if converted[k].shape != expected[k])
    if missing or unexpected or wrong_shape:
        problems = [f'{len(keys)} {title} keys: ' + ', '.join(keys)
                    for title, keys in (('missing', missing), ('unexpected', unexpected), ('wrong shape', wrong_shape))
                    if keys]
        raise ConversionError(f'{what}: ' + '; '.join(problems))


def convert_state_dict(state_dict: Dict[str, torch.Tensor],
                       source: str,
                       arch: Optional[str] = None) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Convert a source state dict; return the se_plugins state dict and the checkpoint's meta.

    Args:
        state_dict: The source model's tensors.
        source: ``'timm'``, ``'pretrainedmodels'`` or ``'mmpretrain'``.
        arch: The source's architecture name (e.g. ``'seresnet50'``, ``'legacy_senet154'``,
            ``'se_resnext101_32x4d'``). ``None`` infers it from the tensor shapes.

    Raises:
        ConversionError: Unknown source or arch, a layout the source does not use, or keys and
            shapes that do not fit the architecture (all mismatching keys are listed).
    """
    if source not in SOURCES:
        raise ConversionError(f'unknown source {source!r}; choose one of {list(SOURCES)}')
    if arch is not None and arch not in SOURCE_ARCHS[source]:
        raise ConversionError(f'unknown {source} arch {arch!r}; choose one of {SOURCE_ARCHS[source]}')
    if (source, arch) in PLAIN_PEERS:
        return convert_plain(state_dict, source, arch)
    layout = detect_layout(state_dict)
    if layout not in SOURCE_LAYOUTS[source]:
        raise ConversionError(f'the keys are in the {layout!r} layout, which {source} does not use '
                              f'(e.g. {next(iter(state_dict))!r}); check --from')
    if arch is not None and arch_layout(source, arch) != layout:
        twin = arch[len('legacy_'):] if arch.startswith('legacy_') else f'legacy_{arch}'
        hint = f'; did you mean {twin!r}?' if twin in SOURCE_ARCHS[source] else ''
        raise ConversionError(f'{source} {arch} has the {arch_layout(source, arch)!r} key layout, but '
                              f'the keys are in the {layout!r} layout{hint}')
    renamed = to_se_plugins_keys(state_dict, layout)
    base_cfg = ARCHS[arch] if arch is not None else infer_backbone_cfg(renamed)
    cfg = apply_layout(base_cfg, layout)
    if arch is None:  # name the architecture when a known one matches
        arch = next((n for n in SOURCE_ARCHS[source]
                     if arch_layout(source, n) == layout and apply_layout(ARCHS[n], layout) == cfg), 'custom')

    backbone = MODELS.build(cfg)
    expected = {k: v.shape for k, v in backbone.state_dict().items()}
    converted = {k if k.startswith('head.') else f'backbone.{k}': v for k, v in renamed.items()}
    expected = {f'backbone.{k}': v for k, v in expected.items()}
    num_classes = renamed['head.fc.weight'].shape[0] if 'head.fc.weight' in renamed else 0
    if num_classes:
        expected['head.fc.weight'] = torch.Size([num_classes, backbone.feat_dim])
        expected['head.fc.bias'] = torch.Size([num_classes])
    _check_keys(converted, expected, f'{source} {arch} weights do not fit {cfg}')

    meta = dict(
        source=source,
        arch=arch,
        backbone_cfg=dict(cfg, type=f'se_plugins.{cfg["type"]}'),
        num_classes=num_classes,
        data_preprocessor=dict(IMAGENET_RGB),
    )
    return converted, meta


def convert_checkpoint(src: str, dst: str, source: str, arch: Optional[str] = None) -> dict:
    """Convert the checkpoint file ``src`` into ``dst``; return its meta.

    Nothing is written unless the conversion succeeds, and ``dst`` appears whole or not at all.

    Args:
        src: The source checkpoint file.
        dst: Where to write the se_plugins checkpoint.
        source: ``'timm'``, ``'pretrainedmodels'`` or ``'mmpretrain'``.
        arch: The source's architecture name; ``None`` infers it.
    """
    source_state_dict = load_state_dict(src)  # its errors name the file
    try:
        state_dict, meta = convert_state_dict(source_state_dict, source, arch)
    except ConversionError as error:
        raise ConversionError(f'{src}: {error}; nothing was written to {dst}') from None
    meta['source_file'] = os.path.basename(src)
    atomic_save(dict(state_dict=state_dict, meta=meta), dst)
    return meta
