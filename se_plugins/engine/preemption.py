"""Preemption without lost work: a scheduler's warning signal ends training after the current iteration
with a checkpoint that resumes exactly, mid-epoch included."""
import signal
import threading
from typing import Dict, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop as MMEngineEpochBasedTrainLoop
from torch.utils.data import DataLoader

from se_plugins.registry import HOOKS, LOOPS
from se_plugins.utils import InputError, Preempted

from .checkpoint import capture_rng, restore_rng, save_checkpoint_atomically

DEFAULT_SIGNALS = ('SIGTERM', 'SIGUSR1', 'SIGINT')


@HOOKS.register_module()
class PreemptionHook(Hook):
    """On a warning signal, checkpoint after the iteration in progress and stop training.

    Slurm and most schedulers send SIGTERM (or the signal of ``sbatch --signal=USR1@90``) some
    seconds before SIGKILL; Ctrl-C sends SIGINT. When one of ``signals`` arrives, the iteration in
    progress completes; then every rank agrees to stop (one all-reduce of a flag per iteration), an
    iteration checkpoint ``iter_<N>.pth`` is written atomically (weights, optimizer, schedulers,
    random states and the position in the epoch), ``last_checkpoint`` points at it, and
    :class:`~se_plugins.utils.Preempted` ends the run: exit status 75, or 130 for Ctrl-C. A second
    Ctrl-C interrupts at once. ``--resume`` continues from that checkpoint (see
    :class:`EpochBasedTrainLoop`), so at most the interrupted iteration is lost.

    Args:
        signals: The signals that stop training, by name.
    """

    priority = 'LOWEST'  # after every other hook's after_train_iter (loggers, the checkpoint hook)

    def __init__(self, signals: Sequence[str] = DEFAULT_SIGNALS) -> None:
        unknown = [name for name in signals if not isinstance(getattr(signal, str(name), None), signal.Signals)]
        if unknown:
            raise InputError(f'PreemptionHook: {unknown} are not signal names (e.g. SIGTERM, SIGUSR1, SIGINT)')
        self.signals = [signal.Signals[name] for name in signals]
        self.received: Optional[int] = None
        self._previous: Dict[int, object] = {}

    def _on_signal(self, signum: int, frame) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # Ctrl-C twice: stop now
        self.received = signum

    def before_train(self, runner) -> None:
        if threading.current_thread() is threading.main_thread():  # Python allows handlers only there
            self._previous = {sig: signal.signal(sig, self._on_signal) for sig in self.signals}

    def after_train(self, runner) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        flag = torch.tensor([self.received or 0], dtype=torch.int64)
        all_reduce(flag, op='max')  # every rank stops after the same iteration
        received = int(flag.item())
        if not received:
            return
        iteration, epoch = runner.iter + 1, runner.epoch
        path = save_checkpoint_atomically(runner, f'iter_{iteration}.pth', by_epoch=False)
        self.after_train(runner)
        name = signal.Signals(received).name
        where = (f'iteration {iteration} (epoch {epoch + 1}, {batch_idx + 1} of {len(runner.train_dataloader)})'
                 if isinstance(runner.train_loop, MMEngineEpochBasedTrainLoop) else f'iteration {iteration}')
        raise Preempted(f'{name} after {where}; wrote {path}; continue with the same command and --resume',
                        interrupted=received == signal.SIGINT)


@LOOPS.register_module()
class EpochBasedTrainLoop(MMEngineEpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop`` that resumes mid-epoch where an iteration checkpoint stopped.

    mmengine restarts a resumed epoch from its first batch. Here, an epoch of which ``k`` batches were
    trained before the checkpoint continues with batch ``k + 1``: the epoch's batches are drawn from
    the same sampler state (indices only, no image is loaded for the skipped ones), and the random
    states are those of the checkpoint. With ``num_workers=0`` and deterministic settings the
    resumed run ends bit-identical to an uninterrupted one; with DataLoader workers it trains on the
    same samples, with other augmentation draws in the resumed epoch.
    """

    def run_epoch(self) -> None:
        trained = self._iter - self._epoch * len(self.dataloader)
        if trained <= 0:
            return super().run_epoch()
        self.runner.call_hook('before_train_epoch')  # sets the sampler's epoch
        self.runner.model.train()
        loader = self.dataloader
        rest = DataLoader(loader.dataset, batch_sampler=list(loader.batch_sampler)[trained:],
                          num_workers=loader.num_workers, collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
                          worker_init_fn=loader.worker_init_fn, timeout=loader.timeout,
                          multiprocessing_context=loader.multiprocessing_context, generator=loader.generator,
                          prefetch_factor=loader.prefetch_factor)
        state = capture_rng()
        batches = iter(rest)  # draws a worker seed from torch's generator; the checkpoint's state goes on
        restore_rng(state)
        for index, data_batch in enumerate(batches, start=trained):
            self.run_iter(index, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1


def prepare_training(cfg: Config, signals: Sequence[str] = DEFAULT_SIGNALS) -> None:
    """What ``tools/train.py`` adds to every training config: stop on ``signals`` with a checkpoint and
    resume mid-epoch from it, and report skipped bad images.

    Adds :class:`PreemptionHook` and ``BadImagesHook`` (unless the config has them) and trains with
    our :class:`EpochBasedTrainLoop` where the config asks for mmengine's (``by_epoch=True`` or the
    type ``EpochBasedTrainLoop``). Iteration-based loops resume mid-way already (mmengine skips the
    sampler ahead).

    Args:
        cfg: A training config, changed in place.
        signals: The signals that stop training.
    """
    hooks = list(cfg.get('custom_hooks') or [])
    for hook in (dict(type='se_plugins.PreemptionHook', signals=list(signals)), dict(type='se_plugins.BadImagesHook')):
        name = hook['type'].split('.')[-1]
        if not any(str(existing.get('type', '')).split('.')[-1] == name for existing in hooks):
            hooks.append(hook)
    cfg.custom_hooks = hooks
    loop = cfg.get('train_cfg')
    if loop is None:
        return
    if loop.get('by_epoch') or loop.get('type') in ('EpochBasedTrainLoop', 'mmengine.EpochBasedTrainLoop'):
        loop.pop('by_epoch', None)
        loop['type'] = 'se_plugins.EpochBasedTrainLoop'
