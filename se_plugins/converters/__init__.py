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

The package: :mod:`.se_resnet` (the SE-ResNet family's names, layouts and shapes), :mod:`.plain_peers` (each
plain peer's key map beside its name), :mod:`.common` (reading files, fitting tensors to a backbone, the error).
"""
import os
from typing import Dict, List, Optional, Tuple

import torch

from se_plugins.utils import atomic_save

from . import se_resnet
from .common import IMAGENET_RGB, INCEPTION_RGB, ConversionError, load_state_dict
from .plain_peers import PLAIN_PEERS, PlainPeer, convert_plain
from .se_resnet import ARCHS, convert_se_resnet

SOURCES = ('timm', 'pretrainedmodels', 'mmpretrain')
# Every architecture each source's files may hold: the SE-ResNet family, then the plain peers.
SOURCE_ARCHS: Dict[str, List[str]] = {
    source: se_resnet.SOURCE_ARCHS[source] + [arch for peer_source, arch in PLAIN_PEERS if peer_source == source]
    for source in SOURCES}


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
    return convert_se_resnet(state_dict, source, arch)


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


__all__ = ['SOURCES', 'SOURCE_ARCHS', 'ARCHS', 'PLAIN_PEERS', 'PlainPeer', 'IMAGENET_RGB', 'INCEPTION_RGB',
           'ConversionError', 'load_state_dict', 'convert_state_dict', 'convert_checkpoint']
