"""Preemption without lost work: a scheduler's stop signal ends training after the current iteration with a
checkpoint that resumes exactly, mid-epoch and mid-validation included, with or without DataLoader workers."""
import signal
import threading
from typing import Dict, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.dist import all_gather_object, all_reduce
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop as MMEngineEpochBasedTrainLoop
from mmengine.runner import IterBasedTrainLoop as MMEngineIterBasedTrainLoop

from se_plugins.registry import HOOKS, LOOPS
from se_plugins.utils import InputError, Preempted

from .checkpoint import capture_rng, restore_rng, save_checkpoint_atomically
from .data_loading import sample_seeded
from .workers import rebuild_loader

DEFAULT_SIGNALS = ('SIGTERM', 'SIGUSR1', 'SIGINT')


class StopSignals:
    """The stop signals this process has received: the handlers record the first one, and training stops
    at its next check (:class:`PreemptionHook`). A second SIGINT (Ctrl-C twice) interrupts at once.

    One instance per process, :data:`STOP_SIGNALS`; Python lets only the main thread set handlers.
    """

    def __init__(self) -> None:
        self.received: Optional[int] = None
        self._previous: Dict[int, object] = {}

    def _record(self, signum: int, frame) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # Ctrl-C twice: stop now
        if self.received is None:
            self.received = signum

    def listen(self, signals: Sequence[str] = DEFAULT_SIGNALS, reset: bool = False) -> None:
        """Record ``signals`` from now on (those not recorded yet).

        Args:
            signals: Signal names.
            reset: Forget a signal received before (a new run in the same process).
        """
        if reset:
            self.received = None
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.Signals[name] for name in signals):
            if sig not in self._previous:
                self._previous[sig] = signal.signal(sig, self._record)

    def stop_listening(self) -> None:
        """Put the handlers back as they were and forget what was received."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
        self.received = None

    def agreed(self) -> Optional[int]:
        """The signal every rank stops for (one all-reduce: all ranks stop at the same check), or None."""
        flag = torch.tensor([self.received or 0], dtype=torch.int64)
        all_reduce(flag, op='max')
        return int(flag.item()) or None


STOP_SIGNALS = StopSignals()


def listen_for_stop_signals(signals: Sequence[str] = DEFAULT_SIGNALS) -> None:
    """Record stop signals from the start of a tool, before the config is read or the Runner built, so that
    one arriving then stops training cleanly before its first iteration."""
    STOP_SIGNALS.listen(signals, reset=True)


@HOOKS.register_module()
class PreemptionHook(Hook):
    """On a stop signal, checkpoint and stop training; resume continues exactly where it stopped.

    Slurm and most schedulers send SIGTERM (or the signal of ``sbatch --signal=USR1@90``) to every process of
    a job some seconds before SIGKILL; Ctrl-C sends SIGINT. What happens depends on when it arrives:

    - during a training iteration (or while a checkpoint is written): the iteration completes, an iteration
      checkpoint ``iter_<N>.pth`` is written atomically (weights, optimizer, schedulers, every rank's random
      states, the position in the epoch) and ``last_checkpoint`` points at it;
    - during the validation of an epoch: it stops after the validation iteration in progress with
      ``iter_<N>.pth``, which records that the validation is pending; ``--resume`` validates that epoch
      first (the random states are those from before the validation, so training goes on as it would have);
    - before the first iteration of a launch: nothing new to save; training stops before it starts.

    All ranks stop at the same check (one all-reduce of a flag per iteration). Training then ends with
    :class:`~se_plugins.utils.Preempted`: exit status 75, or 130 for Ctrl-C. DataLoader workers ignore the
    signals (see :mod:`se_plugins.engine.workers`); the main process stops them.

    Args:
        signals: The signals that stop training, by name.
    """

    priority = 'LOWEST'  # after every other hook (loggers, the checkpoint hook; a pending validation last)

    def __init__(self, signals: Sequence[str] = DEFAULT_SIGNALS) -> None:
        unknown = [name for name in signals if not isinstance(getattr(signal, str(name), None), signal.Signals)]
        if unknown:
            raise InputError(f'PreemptionHook: {unknown} are not signal names (e.g. SIGTERM, SIGUSR1, SIGINT)')
        self.signals = list(signals)
        self._training = False
        self._iterations = 0  # trained in this launch
        self._validation_pending = False
        self._check_validation = False
        self._rng_before_validation: Optional[dict] = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._validation_pending = bool(checkpoint.get('meta', {}).get('validation_pending'))

    def before_train(self, runner) -> None:
        STOP_SIGNALS.listen(self.signals)
        self._training = True
        self._stop_if_signalled(runner, 'start')
        if self._validation_pending and runner.val_loop is not None:
            runner.logger.info(f'validating epoch {runner.epoch} (iteration {runner.iter}) again: a stop signal '
                               'interrupted its validation')
            runner.val_loop.run()
        self._validation_pending = False

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if not self._iterations:
            self._stop_if_signalled(runner, 'start')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._iterations += 1
        self._stop_if_signalled(runner, 'train', batch_idx)

    def before_val_epoch(self, runner) -> None:
        if not self._training:
            return
        self._rng_before_validation = capture_rng()
        # a check per validation iteration needs as many iterations on every rank (mmengine's samplers pad)
        self._check_validation = len(set(all_gather_object(len(runner.val_loop.dataloader)))) == 1

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._training and self._check_validation:
            self._stop_if_signalled(runner, 'val')

    def after_train(self, runner) -> None:
        self._training = False
        STOP_SIGNALS.stop_listening()

    def _stop_if_signalled(self, runner, phase: str, batch_idx: int = 0) -> None:
        received = STOP_SIGNALS.agreed()
        if received is None:
            return
        name = signal.Signals(received).name
        STOP_SIGNALS.received = None  # this stop consumes it
        resume = 'continue with the same command and --resume'
        if phase == 'start':
            message = f'{name} before the first iteration; nothing new to save; {resume}'
        elif phase == 'train':
            iteration = runner.iter + 1
            path = save_checkpoint_atomically(runner, f'iter_{iteration}.pth', by_epoch=False)
            where = f'iteration {iteration}'
            if isinstance(runner.train_loop, MMEngineEpochBasedTrainLoop):
                where += f' (epoch {runner.epoch + 1}, {batch_idx + 1} of {len(runner.train_dataloader)})'
            message = f'{name} after {where}; wrote {path}; {resume}'
        else:  # during validation: the checkpoint is the state before it, with the validation pending
            restore_rng(self._rng_before_validation)
            path = save_checkpoint_atomically(
                runner, f'iter_{runner.iter}.pth', by_epoch=False,
                meta=dict(epoch=runner.epoch, iter=runner.iter, validation_pending=True))
            message = (f'{name} during the validation after iteration {runner.iter} (epoch {runner.epoch}); '
                       f'wrote {path}; {resume} (it validates that epoch first)')
        raise Preempted(message, interrupted=received == signal.SIGINT)


class SampleSeededLoop:
    """What our training loops add to mmengine's: the training DataLoader draws each sample's augmentation
    from a seed of its own and its workers survive stop signals (:func:`~se_plugins.engine.data_loading.
    sample_seeded`)."""

    def _seed_samples(self) -> None:
        self.dataloader, self._batches = sample_seeded(self.dataloader, self.runner.seed, self.runner.rank)


@LOOPS.register_module()
class EpochBasedTrainLoop(SampleSeededLoop, MMEngineEpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop`` with per-sample seeding, resuming mid-epoch where an iteration
    checkpoint stopped.

    mmengine restarts a resumed epoch from its first batch. Here, an epoch of which ``k`` batches were trained
    before the checkpoint continues with batch ``k + 1``: the epoch's batches are drawn from the same sampler
    state (indices only, no image is loaded for the skipped ones), and each sample is loaded with the random
    state it had in the uninterrupted run. With deterministic settings the resumed run ends bit-identical to an
    uninterrupted one, with DataLoader workers or without.
    """

    def __init__(self, runner, dataloader, max_epochs: int, **kwargs) -> None:
        super().__init__(runner, dataloader, max_epochs, **kwargs)
        self._seed_samples()

    def run_epoch(self) -> None:
        self.runner.call_hook('before_train_epoch')  # sets the sampler's epoch
        self.runner.model.train()
        trained = max(self._iter - self._epoch * len(self.dataloader), 0)
        self._batches.start_epoch(self._epoch)
        loader = self.dataloader
        if trained:  # resumed in the middle of this epoch
            loader = rebuild_loader(loader, batch_sampler=list(self._batches)[trained:], persistent_workers=False)
        for index, data_batch in enumerate(loader, start=trained):
            self.run_iter(index, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1


@LOOPS.register_module()
class IterBasedTrainLoop(SampleSeededLoop, MMEngineIterBasedTrainLoop):
    """mmengine's ``IterBasedTrainLoop`` with per-sample seeding (a batch's seeds follow from its iteration).

    mmengine resumes it mid-way by drawing the trained batches again (with workers, their images are loaded).
    """

    def __init__(self, runner, dataloader, max_iters: int, **kwargs) -> None:
        super().__init__(runner, dataloader, max_iters, **kwargs)
        self._seed_samples()
        self.dataloader_iterator = type(self.dataloader_iterator)(self.dataloader)


_OUR_LOOPS = {'EpochBasedTrainLoop': 'se_plugins.EpochBasedTrainLoop',
              'IterBasedTrainLoop': 'se_plugins.IterBasedTrainLoop'}


def add_hooks(cfg: Config, *hooks: dict) -> None:
    """Add each of ``hooks`` to the config's ``custom_hooks`` unless one of its type is there."""
    present = list(cfg.get('custom_hooks') or [])
    for hook in hooks:
        name = hook['type'].split('.')[-1]
        if not any(str(existing.get('type', '')).split('.')[-1] == name for existing in present):
            present.append(hook)
    cfg.custom_hooks = present


def prepare_testing(cfg: Config) -> None:
    """What ``tools/test.py`` adds to every config: the count of bad images skipped (``BadImagesHook``)."""
    add_hooks(cfg, dict(type='se_plugins.BadImagesHook'))


def prepare_training(cfg: Config, signals: Sequence[str] = DEFAULT_SIGNALS) -> None:
    """What ``tools/train.py`` adds to every training config: stop on ``signals`` with a checkpoint and
    resume exactly from it, and report skipped bad images.

    Adds :class:`PreemptionHook` and ``BadImagesHook`` (unless the config has them) and trains with our
    :class:`EpochBasedTrainLoop` or :class:`IterBasedTrainLoop` where the config asks for mmengine's
    (``by_epoch``, or the loop's type).

    Args:
        cfg: A training config, changed in place.
        signals: The signals that stop training.
    """
    add_hooks(cfg, dict(type='se_plugins.PreemptionHook', signals=list(signals)), dict(type='se_plugins.BadImagesHook'))
    if cfg.get('train_cfg') is not None:
        cfg.train_cfg = as_our_loop(cfg.train_cfg)


def as_our_loop(loop: dict) -> dict:
    """The training loop config ``loop`` with our :class:`EpochBasedTrainLoop` or :class:`IterBasedTrainLoop` where it
    asks for mmengine's (``by_epoch``, or the loop's type); any other loop as it is."""
    loop = type(loop)(loop)
    if 'type' not in loop and 'by_epoch' in loop:  # mmengine's way of naming its two loops
        loop['type'] = 'EpochBasedTrainLoop' if loop.pop('by_epoch') else 'IterBasedTrainLoop'
    kind = str(loop.get('type', '')).replace('mmengine.', '')
    if kind in _OUR_LOOPS:
        loop['type'] = _OUR_LOOPS[kind]
    return loop
