"""Public SE weights as checkpoint sources of mmengine: ``timm://<tag>`` and ``pretrainedmodels://<name>``.

A config says ``load_from = 'timm://seresnet50.a1_in1k'`` or ``init_cfg=dict(type='Pretrained',
checkpoint='pretrainedmodels://se_resnet50', prefix='backbone.')``, as mmdet's say ``torchvision://resnet50``:
the file is taken from the cache its own library keeps, fetched into it if it is not there, and converted on
the fly by :mod:`se_plugins.converters` with their strict checks (every tensor placed, every shape equal).

- ``timm://<model>.<tag>`` (or ``timm://<model>``: timm's default tag): where timm itself would fetch it, from
  the Hugging Face hub (``hf_hub_download``: ``$HF_HOME/hub/models--timm--<model>.<tag>/``; ``HF_HUB_OFFLINE=1``
  reads the cache only) or from its URL (torch.hub's cache, ``$TORCH_HOME/hub/checkpoints/``).
- ``pretrainedmodels://<name>``: Cadene's ImageNet file of that model, in torch.hub's cache (as
  ``pretrainedmodels`` itself caches it).

A file that is neither cached nor fetched stops the run with one :class:`WeightsSourceError` naming the
source, the file and where to put it. The files are read without running code (:mod:`.reading`).
"""
import os
import os.path as osp
import urllib.error
import urllib.request
from typing import Any, Dict, Tuple
from urllib.parse import urlparse

import torch
from mmengine.runner import CheckpointLoader

from se_plugins.utils import MissingInputError, atomic_write

from .reading import MapLocation, read_checkpoint

TIMM, PRETRAINEDMODELS = 'timm://', 'pretrainedmodels://'
SCHEMES = (TIMM, PRETRAINEDMODELS)
DOWNLOAD_TIMEOUT = 60  # seconds without a byte before a download fails


class WeightsSourceError(MissingInputError):
    """Public weights that are neither in their cache nor could be fetched, or a name no source has."""


def is_source(path: Any) -> bool:
    """Whether ``path`` names public weights (``timm://...``, ``pretrainedmodels://...``)."""
    return isinstance(path, str) and path.startswith(SCHEMES)


def _download(url: str, file: str, uri: str) -> None:
    """Fetch ``url`` into ``file``, which appears whole or not at all."""
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
            atomic_write(file, lambda f: f.write(response.read()))
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, 'reason', None) or error
        raise WeightsSourceError(f'{uri}: {osp.basename(file)} is not in the cache and could not be fetched from '
                                 f'{url} ({reason}); put that file at {file}') from None


def _torch_hub_file(url: str, uri: str) -> str:
    """The file of ``url`` in torch.hub's cache, fetched first if it is not there."""
    file = osp.join(torch.hub.get_dir(), 'checkpoints', osp.basename(urlparse(url).path))
    if not osp.isfile(file):
        _download(url, file, uri)
    return file


def _hugging_face_file(repo: str, filename: str, uri: str) -> str:
    """``filename`` of the Hugging Face repository ``repo``, from the hub's cache or fetched into it."""
    from huggingface_hub import constants, hf_hub_download
    try:
        return hf_hub_download(repo, filename)
    except Exception as error:  # huggingface_hub raises its own error types, and requests' and httpx's
        where = osp.join(constants.HF_HUB_CACHE, f'models--{repo.replace("/", "--")}')
        offline = ' (HF_HUB_OFFLINE is set)' if constants.HF_HUB_OFFLINE else ''
        raise WeightsSourceError(
            f'{uri}: {filename} of the Hugging Face repository {repo} is not in the cache and could not be '
            f'fetched{offline}: {type(error).__name__}; put it at {where}/snapshots/<revision>/{filename} with '
            f'<revision> in {where}/refs/main, or fetch it once where the hub is reachable') from None


def _timm_file(uri: str) -> Tuple[str, str]:
    """The file of a ``timm://`` source, and timm's architecture name."""
    tag = uri[len(TIMM):]
    try:
        from timm.models import get_pretrained_cfg
    except ImportError:
        raise WeightsSourceError(f'{uri}: timm:// sources need timm (pip install timm)') from None
    try:
        cfg = get_pretrained_cfg(tag)
    except RuntimeError:  # a known model with an unknown tag
        cfg = None
    if cfg is None:
        raise WeightsSourceError(f'{uri}: timm has no pretrained weights named {tag!r} (timm.list_pretrained'
                                 f"('*se*') lists the SE ones)")
    if cfg.hf_hub_id:  # what timm itself prefers
        return _hugging_face_file(cfg.hf_hub_id, cfg.hf_hub_filename or 'model.safetensors', uri), tag.split('.')[0]
    return _torch_hub_file(cfg.url, uri), tag.split('.')[0]


def _pretrainedmodels_file(uri: str) -> Tuple[str, str]:
    """The file of a ``pretrainedmodels://`` source, and its architecture name."""
    name = uri[len(PRETRAINEDMODELS):]
    try:
        from pretrainedmodels import pretrained_settings
    except ImportError:
        raise WeightsSourceError(f'{uri}: pretrainedmodels:// sources need pretrainedmodels '
                                 '(pip install pretrainedmodels)') from None
    url = (pretrained_settings.get(name) or {}).get('imagenet', {}).get('url')
    if url is None:
        known = sorted(n for n in pretrained_settings if 'se' in n)
        raise WeightsSourceError(f'{uri}: pretrainedmodels has no ImageNet weights named {name!r}; its SE ones: '
                                 + ', '.join(known))
    return _torch_hub_file(url, uri), name


def fetch(uri: str) -> Tuple[str, str, str]:
    """The local file of public weights ``uri`` (fetched into its cache if it is not there), its source
    (``'timm'``, ``'pretrainedmodels'``) and architecture name."""
    if uri.startswith(TIMM):
        file, arch = _timm_file(uri)
        return file, 'timm', arch
    file, arch = _pretrainedmodels_file(uri)
    return file, 'pretrainedmodels', arch


_converted: Dict[tuple, dict] = {}  # the last file converted in this process, by (uri, file, mtime, size)


def load_from_public_se_weights(uri: str, map_location: MapLocation = None) -> dict:
    """The converted checkpoint of public weights ``uri``: ``state_dict`` (``backbone.*``, ``head.fc.*``) and
    ``meta`` (source, architecture, the ``backbone_cfg`` that reproduces the source exactly, its
    normalisation). mmengine's loader of the ``timm://`` and ``pretrainedmodels://`` schemes."""
    file, source, arch = fetch(uri)
    status = os.stat(file)
    key = (uri, file, status.st_mtime_ns, status.st_size)
    if key not in _converted:
        from se_plugins.converters import ConversionError, convert_state_dict
        checkpoint = read_checkpoint(file, 'cpu')
        weights = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else checkpoint
        try:
            state_dict, meta = convert_state_dict(weights, source, arch)
        except ConversionError as error:
            raise ConversionError(f'{uri} ({file}): {error}') from None
        _converted.clear()
        _converted[key] = dict(state_dict=state_dict, meta=dict(meta, source_file=osp.basename(file)))
    checkpoint = _converted[key]
    state_dict = checkpoint['state_dict']
    if isinstance(map_location, (str, torch.device)) and str(map_location) != 'cpu':
        state_dict = {name: tensor.to(map_location) for name, tensor in state_dict.items()}
    return dict(state_dict=dict(state_dict), meta=dict(checkpoint['meta']))


def register_weight_sources() -> None:
    """Register ``timm://`` and ``pretrainedmodels://`` with mmengine's ``CheckpointLoader``."""
    CheckpointLoader.register_scheme(prefixes=SCHEMES, loader=load_from_public_se_weights, force=True)
