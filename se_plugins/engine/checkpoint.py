"""Checkpoints that survive kills: atomic writes, the random state, and resuming from the newest
readable file."""
import glob
import logging
import os
import os.path as osp
import random
import re
import zipfile
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import all_gather_object, is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.model import BaseTTAModel, is_model_wrapper

from se_plugins.registry import HOOKS
from se_plugins.utils import CheckpointWriteError, InputError, MissingInputError, atomic_write, replace_durably
from se_plugins.weights import (WeightsSourceError, fetch, is_safetensors, is_source, load_from_public_se_weights,
                                read_checkpoint, safetensors_problem)

LEGACY_TORCH_START = b'\x80\x02'  # torch.save's format before 1.6: a pickle, protocol 2


def capture_rng() -> dict:
    """The Python, NumPy and torch random states (what checkpoints carry to resume exactly)."""
    return dict(python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())


def restore_rng(state: dict) -> None:
    """Set the random states :func:`capture_rng` returned."""
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])


def save_checkpoint_atomically(runner, filename: str, out_dir: Optional[str] = None, **save_kwargs) -> str:
    """``runner.save_checkpoint`` so that a kill or a full disk never leaves a partial checkpoint.

    In a distributed run (every rank calls this), the checkpoint's ``meta`` also holds every rank's
    random states and buffers. The checkpoint is written to a hidden temporary file in ``out_dir``,
    fsynced and renamed;
    ``last_checkpoint`` is then replaced atomically (by the main process). If the write fails, the
    temporary file is removed, earlier checkpoints and ``last_checkpoint`` are untouched, and
    :class:`~se_plugins.utils.CheckpointWriteError` names the file and the OS error.

    Args:
        runner: The mmengine Runner.
        filename: The checkpoint's file name.
        out_dir: Its folder (default: the work dir).
        **save_kwargs: Arguments of ``Runner.save_checkpoint`` (``meta``, ``by_epoch``...).

    Returns:
        The checkpoint's path.
    """
    out_dir = out_dir or runner.work_dir
    path, tmp = osp.join(out_dir, filename), osp.join(out_dir, f'.{filename}.tmp')
    if runner.world_size > 1:  # every rank, before the save that only rank 0 runs: what each rank holds
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        rank_states = all_gather_object(dict(
            rng_state=capture_rng(), buffers={name: buffer.detach().cpu() for name, buffer in model.named_buffers()}))
        save_kwargs['meta'] = dict(save_kwargs.get('meta') or {}, rank_states=rank_states)
    try:
        runner.save_checkpoint(out_dir, f'.{filename}.tmp', **save_kwargs)
        if is_main_process():
            replace_durably(tmp, path)
            atomic_write(osp.join(runner.work_dir, 'last_checkpoint'), lambda f: f.write(path.encode()))
    except OSError as error:
        if osp.exists(tmp):
            os.remove(tmp)
        raise CheckpointWriteError(f'cannot write checkpoint {path}: {error.strerror or error}'
                                   f'{f" [Errno {error.errno}]" if error.errno else ""}; the previous '
                                   'checkpoints and last_checkpoint are intact') from error
    return path


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be loaded, or ``None`` if it is a complete checkpoint, found without unpickling
    anything.

    ``torch.save`` writes a zip archive: a truncated file has no central directory and a corrupt one fails its CRC
    checks. A safetensors file's header gives its size. A file in torch's legacy format (a bare pickle, as the
    public weights of 2017 are) cannot be checked before it is read.
    """
    if not osp.isfile(path):
        return 'no such file'
    if is_safetensors(path):
        return safetensors_problem(path)
    if not zipfile.is_zipfile(path):
        with open(path, 'rb') as f:
            legacy = f.read(2) == LEGACY_TORCH_START
        return None if legacy else 'not a complete PyTorch checkpoint (truncated, or not a zip archive)'
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError) as error:
        return f'unreadable ({error})'
    return None if bad is None else f'corrupt member {bad}'


def resumable_checkpoints(work_dir: str) -> List[str]:
    """The checkpoints of ``work_dir`` to try, newest first: ``last_checkpoint``'s, then by mtime.

    ``last_checkpoint`` holds an absolute path. In a work dir that was copied or moved (scratch to project storage,
    one cluster to another) it names the original's file: when the work dir has a file of that name, that one is
    taken, and one line says so (the original may still exist, and is another run's now).
    """
    candidates = sorted(glob.glob(osp.join(work_dir, '*.pth')), key=osp.getmtime, reverse=True)
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            last = f.read().strip()
        own = osp.join(work_dir, osp.basename(last))
        if osp.realpath(osp.dirname(last)) != osp.realpath(work_dir) and osp.isfile(own):
            print_log(f'{pointer} names {last}, outside this work dir (copied or moved?); resuming from its own '
                      f'{osp.basename(last)}: {own}', logger='current', level=logging.WARNING)
            last = own
        candidates = [last] + [c for c in candidates if osp.abspath(c) != osp.abspath(last)]
    return candidates


def require_checkpoint(path: str, name: str) -> None:
    """Stop with one error naming ``name`` (the argument or config key) unless ``path`` is a complete
    checkpoint: ``MissingInputError`` if there is no such file, else ``InputError``. Public weights
    (``timm://...``) are fetched into their cache if they are not there (:func:`~se_plugins.weights.fetch`)."""
    if is_source(path):
        try:
            fetch(path)
        except WeightsSourceError as error:
            raise WeightsSourceError(f'{name} {error}') from None
        return
    problem = checkpoint_problem(path)
    if problem is not None:
        raise (MissingInputError if problem == 'no such file' else InputError)(f'{name} {path}: {problem}')


def _parts(names: Sequence[str], limit: int = 4) -> str:
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
                        f'({_parts(problems["missing"])})')
        if problems.get('unexpected'):
            said.append(f'{len(problems["unexpected"])} tensors the model has no place for '
                        f'({_parts(problems["unexpected"])})')
        if problems.get('mismatched'):
            said.append(f'{len(problems["mismatched"])} of other shapes (e.g. {problems["mismatched"][0]})')
        network = type(unwrapped(model)).__name__
        raise InputError(f'{name} {path} does not fit the {"backbone of the " if fine_tune else ""}model of '
                         f'the config ({network}): ' + '; '.join(said) + '. Its weights are for another network, '
                         'depth or config')
    skipped = fit['missing'] + [entry.split(':')[0] for entry in fit['mismatched']]
    return (f'{name} {path}: loaded {len(fit["loaded"])} of {total} tensors'
            + (f'; skipped: {_parts(skipped)} (other shapes or not in the checkpoint)' if skipped else '')
            + (f'; not used: {_parts(fit["unexpected"])}' if fit['unexpected'] else ''))


class ResumeError(InputError):
    """No checkpoint to resume from where one was expected."""


def resolve_resume(work_dir: str, resume: str) -> Optional[str]:
    """The checkpoint ``--resume`` continues from.

    Args:
        work_dir: The run's work dir.
        resume: A checkpoint path, or ``'auto'``: the newest complete checkpoint of ``work_dir``
            (each one skipped is logged with its reason; ``None`` when there is none yet: the run
            starts from scratch, as on a first launch).

    Raises:
        ResumeError: The given checkpoint is incomplete, or every checkpoint of ``work_dir`` is.
    """
    if resume != 'auto':
        problem = checkpoint_problem(resume)
        if problem is not None:
            raise ResumeError(f'cannot resume from {resume}: {problem}')
        return resume
    problems = []
    for path in resumable_checkpoints(work_dir):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        print_log(f'cannot resume from {path}: {problem}; trying an older checkpoint', logger='current',
                  level=30)
        problems.append(f'{path}: {problem}')
    if problems:
        raise ResumeError(f'no complete checkpoint to resume from in {work_dir}: ' + '; '.join(problems))
    return None


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook``, made safe against kills, full disks and crashes.

    Each checkpoint is written to a hidden temporary file in the same directory, fsynced and renamed
    to its final name; ``last_checkpoint`` is then replaced atomically, and only after that are the
    checkpoints beyond ``max_keep_ckpts`` removed (mmengine removes the oldest before writing the
    new one, and writes in place). A kill at any moment leaves the previous checkpoint intact and
    ``last_checkpoint`` pointing at a complete file.

    Checkpoints also carry the Python, NumPy and torch random states, and in a distributed run every
    rank's random states and buffers (BN statistics differ per rank until synchronised), restored on
    resume, so a resumed CPU run with deterministic settings continues exactly as the uninterrupted
    run would.
    A write that fails (full disk, quota) removes its temporary file and stops the run with
    :class:`~se_plugins.utils.CheckpointWriteError`, the previous checkpoint still the last one.
    Other storage backends than the local disk use mmengine's behaviour.
    """

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_state'] = capture_rng()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Before the weights are loaded: each rank takes its own random state and buffers (BN statistics
        differ per rank until they are synchronised) when the run has as many ranks as the checkpoint."""
        states = checkpoint.get('meta', {}).get('rank_states')
        if states is not None and len(states) == runner.world_size:
            checkpoint['state_dict'].update(states[runner.rank]['buffers'])
            restore_rng(states[runner.rank]['rng_state'])
        elif checkpoint.get('rng_state') is not None:
            restore_rng(checkpoint['rng_state'])

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not isinstance(self.file_backend, LocalBackend):
            return super()._save_checkpoint_with_step(runner, step, meta)
        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)  # saved in the checkpoint, as mmengine does
        save_checkpoint_atomically(
            runner, ckpt_filename, self.out_dir, file_client_args=self.file_client_args,
            save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler, meta=meta,
            by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        for old_step in outdated:
            old = osp.join(self.out_dir, self.filename_tmpl.format(old_step))
            if osp.isfile(old):
                os.remove(old)
