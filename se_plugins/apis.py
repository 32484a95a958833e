"""Our models by name, as mmpretrain's ``list_models``/``get_model`` and timm's ``create_model`` give theirs.

Every model of the model zoo (configs/*/metafile.yml) has a name: its config's. ``get_model(name)`` builds it;
``pretrained=True`` loads the public weights its metafile names (``timm://seresnet50.a1_in1k``: fetched into
timm's cache and converted, :mod:`se_plugins.weights`), or a checkpoint path or source given instead.
Importing se_plugins also registers the index with mmpretrain's model hub, so that ``mmpretrain.list_models``,
``mmpretrain.get_model`` and ``ImageClassificationInferencer`` know the classifiers. mmdet's ``DetInferencer`` looks
names up in mmdet's own index only (its ``scope`` is also the registry scope it builds in): :func:`inferencer`
gives it our detector's config and weights by name.

The hub reads ``model-index.json`` beside this module, every metafile's models in one file that
``tools/misc/model_zoo.py`` writes with them: JSON, where the YAML index and its metafiles would cost every
import of se_plugins a tenth of a second.
"""
import difflib
import fnmatch
import json
import os.path as osp
from functools import lru_cache
from typing import Dict, List, Optional, Union

import torch.nn as nn
from mmengine.config import Config

from se_plugins.building import in_scope, task_scope
from se_plugins.utils import InputError

PACKAGE_DIR = osp.dirname(osp.abspath(__file__))
MIM_DIR = osp.join(PACKAGE_DIR, '.mim')  # what a model's Config path is relative to (configs/<task>/...)
MODEL_INDEX = osp.join(PACKAGE_DIR, 'model-index.json')


@lru_cache(maxsize=None)
def _models() -> Dict[str, dict]:
    with open(MODEL_INDEX) as f:
        return {model['Name']: model for model in json.load(f)['Models']}


def list_models(pattern: Optional[str] = None) -> List[str]:
    """The names of our models, sorted; those matching the wildcard ``pattern`` (``'se-resnet50*'``) if given."""
    return sorted(name for name in _models() if pattern is None or fnmatch.fnmatch(name, pattern))


def model_info(name: str) -> dict:
    """A model's metafile entry, with ``Config`` as the path of its config file.

    Raises:
        InputError: No model has that name; the message gives the closest names.
    """
    models = _models()
    if name not in models:
        close = difflib.get_close_matches(name, list(models), n=3, cutoff=0.5)
        hint = (f"; did you mean {', '.join(repr(c) for c in close)}?" if close
                else '; se_plugins.list_models() lists them')
        raise InputError(f'no se_plugins model is named {name!r}' + hint)
    return dict(models[name], Config=osp.join(MIM_DIR, models[name]['Config']))


def get_model(name: str, pretrained: Union[bool, str] = False, device: Optional[str] = None) -> nn.Module:
    """Our model ``name``, ready for inference (eval mode), by its task's library: a classifier by mmpretrain's
    ``get_model``, a detector by mmdet's ``init_detector``.

    Args:
        name: A name of :func:`list_models`.
        pretrained: ``True``: the public weights the model's metafile names; a checkpoint path or source
            (``timm://...``); ``False``: random weights.
        device: Where the model goes (default: the CPU).

    Raises:
        InputError: An unknown name, or ``pretrained=True`` for a model without public weights.
    """
    info, weights = model_info(name), _weights(name, pretrained)
    cfg = Config.fromfile(info['Config'])
    if task_scope(cfg) == 'mmdet':
        from mmdet.apis import init_detector
        return init_detector(cfg, weights, device=device or 'cpu')
    from mmpretrain.apis import get_model as mmpretrain_get_model
    return mmpretrain_get_model(cfg, pretrained=weights or False, device=device)


def _weights(name: str, pretrained: Union[bool, str]) -> Optional[str]:
    """The checkpoint ``pretrained`` stands for (see :func:`get_model`)."""
    if pretrained is True:
        weights = model_info(name).get('Weights')
        if not weights:
            raise InputError(f'{name} has no public weights (no model of it has been trained yet); train it, '
                             'or give a checkpoint: pretrained=PATH')
        return weights
    return pretrained or None


def inferencer(name: str, pretrained: Union[bool, str] = False, device: Optional[str] = None,
               show_progress: bool = True):
    """mmpretrain's ``ImageClassificationInferencer`` or mmdet's ``DetInferencer`` of our model ``name``.

    Args:
        name: A name of :func:`list_models`.
        pretrained: As :func:`get_model`'s.
        device: Where the model goes (default: the CPU).
        show_progress: The detection inferencer's progress bar.
    """
    info, weights = model_info(name), _weights(name, pretrained)
    cfg = Config.fromfile(info['Config'])
    if task_scope(cfg) == 'mmdet':
        from mmdet.apis import DetInferencer
        return DetInferencer(cfg, weights=weights, device=device or 'cpu', show_progress=show_progress)
    from mmpretrain.apis import ImageClassificationInferencer
    with in_scope('mmpretrain'):  # its pipeline is built now, in whatever scope an earlier build left
        return ImageClassificationInferencer(cfg, pretrained=weights or False, device=device)


def register_with_mmpretrain() -> None:
    """Add our models to mmpretrain's model hub (once a process)."""
    from mmpretrain.apis import ModelHub
    if not ModelHub.has(next(iter(_models()))):
        ModelHub.register_model_index(MODEL_INDEX, config_prefix=MIM_DIR)
