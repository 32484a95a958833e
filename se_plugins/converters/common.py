"""What every conversion shares: the error, reading a checkpoint file, and fitting renamed tensors to the
backbone they are for."""
import os
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn

from se_plugins.utils import InputError
from se_plugins.weights.reading import UnsafeCheckpointError, read_checkpoint

# All three sources' ImageNet weights expect RGB input normalised with the ImageNet mean/std
# (timm's pretrained_cfg, pretrainedmodels' pretrained_settings, mmpretrain's configs), on 0-255
# pixels as mmpretrain's data preprocessor sees them. The original Caffe release, which none of
# these files are, expected BGR with mean (104, 117, 123) and no std.
IMAGENET_RGB = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
# timm's Inception-ResNet-v2 and MobileNet v1 weights expect pixels mapped to [-1, 1] (its "inception" mean/std).
INCEPTION_RGB = dict(mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True)


class ConversionError(InputError):
    """A checkpoint that does not convert: wrong source, architecture, keys or shapes."""


def load_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Load the tensors of a checkpoint file: a bare state dict, or one under ``state_dict``/``model``.

    Args:
        path: The checkpoint file, ``torch.save``'s or safetensors. It is read without running code
            (:func:`~se_plugins.weights.read_checkpoint`).
    """
    if not os.path.isfile(path):
        raise ConversionError(f'{path}: no such checkpoint file')
    try:
        checkpoint = read_checkpoint(path, 'cpu')
    except UnsafeCheckpointError:
        raise
    except Exception as error:  # torch raises several types for truncated or foreign files
        raise ConversionError(f'{path}: not a readable PyTorch checkpoint ({error})') from error
    for key in ('state_dict', 'model'):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
    if not isinstance(checkpoint, dict) or not all(torch.is_tensor(v) for v in checkpoint.values()):
        raise ConversionError(f'{path}: holds no state dict of tensors')
    return checkpoint


def check_keys(converted: Dict[str, torch.Tensor], expected: Dict[str, torch.Size], what: str) -> None:
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    wrong_shape = sorted(f'{k}: {tuple(converted[k].shape)} vs {tuple(expected[k])}'
                         for k in set(converted) & set(expected) if converted[k].shape != expected[k])
    if missing or unexpected or wrong_shape:
        problems = [f'{len(keys)} {title} keys: ' + ', '.join(keys)
                    for title, keys in (('missing', missing), ('unexpected', unexpected), ('wrong shape', wrong_shape))
                    if keys]
        raise ConversionError(f'{what}: ' + '; '.join(problems))


def is_se_key(key: str) -> bool:
    """Whether a key of our backbones belongs to an SE block."""
    return key.startswith('se.') or '.se.' in key


def fit_to_backbone(renamed: Dict[str, torch.Tensor], backbone: nn.Module, feat_channels: Optional[int], what: str,
                    leave_out=lambda key: False) -> Tuple[Dict[str, torch.Tensor], int]:
    """Check that renamed source tensors are exactly ``backbone``'s and, if the source has a classifier,
    ``head.fc`` on ``feat_channels`` features; return them under the checkpoint's names (``backbone.*``,
    ``head.fc.*``) and the classifier's classes (0: none).

    Args:
        renamed: The source tensors under our names (backbone keys bare, the classifier ``head.fc.*``).
        backbone: The backbone they are for.
        feat_channels: Input features of ``head.fc`` (``None``: the backbone holds its classifier).
        what: What the error says does not fit.
        leave_out: Backbone keys the source does not hold (the SE layers of a plain peer).

    Raises:
        ConversionError: Listing every missing, unexpected and wrongly shaped key.
    """
    expected = {f'backbone.{k}': v.shape for k, v in backbone.state_dict().items() if not leave_out(k)}
    num_classes = renamed['head.fc.weight'].shape[0] if 'head.fc.weight' in renamed else 0
    if num_classes and feat_channels is not None:
        expected['head.fc.weight'] = torch.Size([num_classes, feat_channels])
        expected['head.fc.bias'] = torch.Size([num_classes])
    converted = {k if k.startswith('head.') else f'backbone.{k}': v for k, v in renamed.items()}
    check_keys(converted, expected, what)
    return converted, num_classes
