"""SE-ResNet, SE-ResNeXt and SENet-154 weights of timm, pretrainedmodels and mmpretrain: their names, their
key layouts, and the backbone arguments that reproduce each exactly."""
import copy
import re
from typing import Dict, List, Optional, Tuple

import torch
from mmpretrain.models.utils import make_divisible

from se_plugins.building import without_initialisation
from se_plugins.registry import MODELS

from .common import IMAGENET_RGB, ConversionError, fit_to_backbone


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

# Each source's SE-ResNet family, by the names it gives them.
SOURCE_ARCHS: Dict[str, List[str]] = {
    'timm': [n for n in ARCHS if not n.startswith('se_')],
    'pretrainedmodels': ['se_resnet50', 'se_resnet101', 'se_resnet152', 'se_resnext50_32x4d',
                         'se_resnext101_32x4d', 'senet154'],
    'mmpretrain': ['seresnet50', 'seresnet101', 'seresnet152', 'seresnext50_32x4d',
                   'seresnext101_32x4d', 'seresnext101_64x4d'],
}
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


def convert_se_resnet(state_dict: Dict[str, torch.Tensor], source: str,
                      arch: Optional[str] = None) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Convert a source's SE-ResNet-family state dict (``arch``: one of :data:`SOURCE_ARCHS`, or ``None`` to
    infer it from the tensor shapes); see :func:`se_plugins.converters.convert_state_dict`."""
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

    with without_initialisation():  # its keys and shapes are all that is read
        backbone = MODELS.build(cfg)
    converted, num_classes = fit_to_backbone(renamed, backbone, backbone.feat_dim,
                                             f'{source} {arch} weights do not fit {cfg}')

    meta = dict(
        source=source,
        arch=arch,
        backbone_cfg=dict(cfg, type=f'se_plugins.{cfg["type"]}'),
        num_classes=num_classes,
        data_preprocessor=dict(IMAGENET_RGB),
    )
    return converted, meta
