"""Checkpoints that survive kills: atomic writes, the random state, and resuming from the newest
readable file."""
import glob
import logging
import os
import os.path as osp
import random
import zipfile
from typing import List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from se_plugins.registry import HOOKS
from se_plugins.utils import CheckpointWriteError, InputError, MissingInputError, atomic_write, replace_durably
from se_plugins.weights import WeightsSourceError, fetch, is_safetensors, is_source, safetensors_problem

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
