"""Whether a checkpoint's weights fit a model: every tensor to test, infer or resume; the backbone to fine-tune."""
import re
from typing import Dict, List, Sequence

import torch
from mmengine.model import BaseTTAModel, is_model_wrapper

from se_plugins.utils import InputError
from se_plugins.weights import is_source, load_from_public_se_weights, read_checkpoint


def _model_parts(names: Sequence[str], limit: int = 4) -> str:
    """The parts of the model ``names`` belong to (their first two levels), the first ``limit`` of them."""
    parts = list(dict.fromkeys('.'.join(name.split('.')[:2]) for name in names))
    return ', '.join(parts[:limit]) + (f' and {len(parts) - limit} more parts' if len(parts) > limit else '')


def unwrapped(model: torch.nn.Module) -> torch.nn.Module:
    """The network a checkpoint's weights are for: inside a DDP wrapper or a test-time-augmentation model, as
    mmengine loads them."""
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def checkpoint_fit(model: torch.nn.Module, path: str) -> Dict[str, List[str]]:
    """How the weights in checkpoint ``path`` fit ``model``: the model's tensors the checkpoint lacks
    (``missing``; BN's ``num_batches_tracked`` counters excepted), the checkpoint's tensors the model has no
    place for (``unexpected``), those whose shapes differ (``mismatched``, as ``name: checkpoint (...), model
    (...)``), and the tensors that load (``loaded``). The checkpoint is memory-mapped, not read whole, and read
    without running code (:func:`~se_plugins.weights.read_checkpoint`); public weights are converted."""
    model = unwrapped(model)
    if is_source(path):
        checkpoint = load_from_public_se_weights(path, 'cpu')
    else:
        checkpoint = read_checkpoint(path, 'cpu', mmap=True)
    weights = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else {}
    weights = {re.sub(r'^module\.', '', name): value for name, value in weights.items() if torch.is_tensor(value)}
    expected = model.state_dict()
    missing = [name for name in expected if name not in weights and not name.endswith('num_batches_tracked')]
    mismatched = [f'{name}: checkpoint {tuple(weights[name].shape)}, model {tuple(value.shape)}'
                  for name, value in expected.items() if name in weights and weights[name].shape != value.shape]
    loaded = [name for name, value in expected.items() if name in weights and weights[name].shape == value.shape]
    return dict(missing=missing, unexpected=[name for name in weights if name not in expected],
                mismatched=mismatched, loaded=loaded)


def require_checkpoint_fit(model: torch.nn.Module, path: str, name: str, fine_tune: bool = False) -> str:
    """Stop with one :class:`~se_plugins.utils.InputError` unless checkpoint ``path`` fits ``model``.

    A checkpoint that is tested, used for inference or resumed from must fit entirely: a tensor missing,
    unexpected or of another shape means weights of another network, depth or config (mmengine loads them
    anyway, leaving the rest random, and says so in a warning among hundreds of log lines). For fine-tuning
    (``fine_tune``: ``load_from`` in training) the head may differ (other classes) and is skipped; the
    backbone must fit.

    Args:
        model: The model the weights are for.
        path: The checkpoint.
        name: What set it (the argument or config key), for the message.
        fine_tune: Only the backbone must fit.

    Returns:
        One line for the log: how many tensors load and what is skipped.
    """
    fit = checkpoint_fit(model, path)
    problems = {kind: names for kind, names in fit.items() if kind != 'loaded' and names}
    if fine_tune:
        problems = {kind: [n for n in names if n.startswith('backbone.')] for kind, names in problems.items()}
        problems = {kind: names for kind, names in problems.items() if names}
    total = len(fit['loaded']) + len(fit['missing']) + len(fit['mismatched'])
    if problems:
        said = []
        if problems.get('missing'):
            said.append(f'{len(problems["missing"])} of the model\'s {total} tensors missing '
                        f'({_model_parts(problems["missing"])})')
        if problems.get('unexpected'):
            said.append(f'{len(problems["unexpected"])} tensors the model has no place for '
                        f'({_model_parts(problems["unexpected"])})')
        if problems.get('mismatched'):
            said.append(f'{len(problems["mismatched"])} of other shapes (e.g. {problems["mismatched"][0]})')
        network = type(unwrapped(model)).__name__
        raise InputError(f'{name} {path} does not fit the {"backbone of the " if fine_tune else ""}model of '
                         f'the config ({network}): ' + '; '.join(said) + '. Its weights are for another network, '
                         'depth or config')
    skipped = fit['missing'] + [entry.split(':')[0] for entry in fit['mismatched']]
    return (f'{name} {path}: loaded {len(fit["loaded"])} of {total} tensors'
            + (f'; skipped: {_model_parts(skipped)} (other shapes or not in the checkpoint)' if skipped else '')
            + (f'; not used: {_model_parts(fit["unexpected"])}' if fit['unexpected'] else ''))
