"""DataLoaders whose workers survive a job's stop signals and whose random augmentation is drawn per sample.

A scheduler stops a job by signalling every process of it, DataLoader workers included; PyTorch's workers die
of SIGTERM (their C handler re-raises it), and the main process then fails with ``DataLoader worker (pid N) is
killed by signal: Terminated``. :func:`quiet_workers` makes the workers ignore the stop signals: the main
process alone decides when to stop, after the iteration in progress, and shuts its workers down.

A worker's random state depends on which samples it loaded before (its history), and that history changes
when a run resumes mid-epoch or with another number of workers. :class:`SampleSeeded` draws each sample's
augmentation from a seed of its own, derived from the run's seed, the rank, the epoch and the sample's place
in the epoch, so a resumed run loads exactly what the uninterrupted run loaded, whatever the workers.
"""
import atexit
import gc
import multiprocessing
import random
import signal
from functools import partial
from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

# What schedulers and users send to stop a job (Slurm: TERM at a time limit or preemption, USR1/USR2 as a
# warning; HUP when a terminal closes; INT for Ctrl-C).
WORKER_IGNORED_SIGNALS = ('SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGINT', 'SIGHUP')

SampleKey = Tuple[int, int, int]  # (epoch, batch number, place in the batch)


def rebuild_loader(loader: DataLoader, **changes) -> DataLoader:
    """A new DataLoader with ``loader``'s settings and ``changes`` (torch forbids changing most of them on a
    built one).

    Args:
        loader: The DataLoader to copy.
        **changes: DataLoader arguments that differ (``dataset``, ``batch_sampler``, ``worker_init_fn``...).
    """
    settings = dict(dataset=loader.dataset, num_workers=loader.num_workers, collate_fn=loader.collate_fn,
                    pin_memory=loader.pin_memory, timeout=loader.timeout, worker_init_fn=loader.worker_init_fn,
                    multiprocessing_context=loader.multiprocessing_context, generator=loader.generator,
                    prefetch_factor=loader.prefetch_factor, persistent_workers=loader.persistent_workers,
                    pin_memory_device=loader.pin_memory_device)
    if hasattr(loader, 'in_order'):
        settings['in_order'] = loader.in_order
    if loader.batch_sampler is not None:
        settings['batch_sampler'] = loader.batch_sampler
    else:  # no automatic batching
        settings.update(sampler=loader.sampler, batch_size=None)
    settings.update(changes)
    if not settings['num_workers']:
        settings.update(prefetch_factor=None, persistent_workers=False)
    return DataLoader(**settings)


def _ignore_stop_signals(worker_id: int, init_fn: Optional[Callable[[int], None]] = None) -> None:
    """A worker's first step: ignore the stop signals (after torch has set its own handlers), then
    ``init_fn``."""
    for name in WORKER_IGNORED_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    if init_fn is not None:
        init_fn(worker_id)


def end_quiet_workers() -> None:
    """Stop the DataLoader workers still running, before the process leaves.

    multiprocessing's clean-up at exit SIGTERMs daemonic children and waits for them, and quiet workers ignore
    SIGTERM; torch's own shutdown of an iterator (a sentinel on each worker's queue, then a join with a 5 s
    timeout a worker) can wait on workers that never see the sentinel after a run stopped mid-epoch. A stopped
    or finished run needs nothing more from its workers, so they are killed (torch's SIGCHLD handler, which would
    report them as failed workers, is taken off first), then the iterators that owned them are collected.
    Registered with ``atexit`` by :func:`quiet_workers`; called by tools that leave with ``os._exit``.
    """
    workers = [process for process in multiprocessing.active_children() if process.daemon]
    if workers:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for process in workers:
            process.kill()
        for process in workers:
            process.join()
    gc.collect()


_registered_at_exit = False


def quiet_workers(loader: DataLoader, seed: Optional[int] = None) -> DataLoader:
    """``loader``, with workers that ignore the stop signals and iterators that leave the global random state
    alone.

    Its workers ignore SIGTERM, SIGUSR1, SIGUSR2, SIGINT and SIGHUP: the main process, which handles them,
    stops the workers (:func:`end_quiet_workers` at the latest); a worker whose main process is killed exits
    by itself (torch's watchdog). Starting an iteration over a
    DataLoader draws its workers' base seed from torch's global generator unless it has a generator of its
    own; it gets one (seeded with ``seed``), so that how often a loader is iterated (persistent workers or
    not, a resumed run) does not shift the random numbers of training.

    Args:
        loader: A DataLoader.
        seed: The seed of the generator it gets if it has none.
    """
    changes = {}
    quiet = isinstance(loader.worker_init_fn, partial) and loader.worker_init_fn.func is _ignore_stop_signals
    if loader.num_workers and not quiet:
        changes['worker_init_fn'] = partial(_ignore_stop_signals, init_fn=loader.worker_init_fn)
        global _registered_at_exit
        if not _registered_at_exit:  # after multiprocessing's, so that it runs first
            atexit.register(end_quiet_workers)
            _registered_at_exit = True
    if loader.generator is None:
        changes['generator'] = torch.Generator().manual_seed(0 if seed is None else seed)
    return rebuild_loader(loader, **changes) if changes else loader


class KeyedBatchSampler:
    """Yields the batches of ``batch_sampler`` with each index paired with its :data:`SampleKey`.

    The key is (the epoch, the batch's number, the sample's place in the batch). An epoch-based loop calls
    :meth:`start_epoch` before each epoch, which numbers the epoch's batches from 0; in an iteration-based loop
    (epoch 0) the number counts every batch drawn since training began.

    Args:
        batch_sampler: The batches of dataset indices.
    """

    def __init__(self, batch_sampler) -> None:
        self.batch_sampler = batch_sampler
        self.epoch = 0
        self.drawn = 0

    def start_epoch(self, epoch: int) -> None:
        self.epoch, self.drawn = epoch, 0

    @property
    def sampler(self):
        """The index sampler (mmengine's ``DistSamplerSeedHook`` sets its epoch)."""
        return self.batch_sampler.sampler

    @property
    def batch_size(self) -> Optional[int]:
        return getattr(self.batch_sampler, 'batch_size', None)

    def __iter__(self) -> Iterator[List[Tuple[SampleKey, int]]]:
        for batch in self.batch_sampler:
            number = self.drawn
            self.drawn += 1
            yield [((self.epoch, number, place), index) for place, index in enumerate(batch)]

    def __len__(self) -> int:
        return len(self.batch_sampler)


def _sample_seeds(seed: int, rank: int, key: SampleKey) -> Tuple[int, int]:
    """A 64-bit seed (Python, torch) and a 32-bit one (NumPy) for one sample."""
    state = np.random.SeedSequence([seed, rank, *key]).generate_state(2, dtype=np.uint64)
    return int(state[0]), int(state[1] % (1 << 32))


class SampleSeeded(Dataset):
    """``dataset``, loaded with Python's, NumPy's and torch's random generators seeded for each sample from
    (``seed``, ``rank``, its :data:`SampleKey`).

    Indices come from a :class:`KeyedBatchSampler` as ``(key, index)``. In a worker the generators are simply
    seeded; in the main process (``num_workers=0``) their states are restored after the sample, so that
    training's own random numbers (dropout, drop path) do not depend on loading. Other attributes are the
    wrapped dataset's (``metainfo``, ...).

    Args:
        dataset: The dataset.
        seed: The run's seed.
        rank: This process's rank.
    """

    def __init__(self, dataset: Dataset, seed: int, rank: int) -> None:
        self.dataset = dataset
        self.seed = seed
        self.rank = rank

    def __getitem__(self, keyed_index: Tuple[SampleKey, int]):
        key, index = keyed_index
        seed, numpy_seed = _sample_seeds(self.seed, self.rank, key)
        in_worker = get_worker_info() is not None
        if not in_worker:
            states = random.getstate(), np.random.get_state(), torch.get_rng_state()
        random.seed(seed)
        np.random.seed(numpy_seed)
        torch.manual_seed(seed)
        try:
            return self.dataset[index]
        finally:
            if not in_worker:
                random.setstate(states[0])
                np.random.set_state(states[1])
                torch.set_rng_state(states[2])

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str):
        if name == 'dataset':  # not set yet (unpickling in a spawned worker)
            raise AttributeError(name)
        return getattr(self.dataset, name)


def sample_seeded(loader: DataLoader, seed: int, rank: int) -> Tuple[DataLoader, KeyedBatchSampler]:
    """``loader`` with per-sample seeding (:class:`SampleSeeded`) and quiet workers (:func:`quiet_workers`),
    and its :class:`KeyedBatchSampler`.

    Args:
        loader: A training DataLoader with a batch sampler.
        seed: The run's seed.
        rank: This process's rank.
    """
    loader = quiet_workers(loader, seed)
    batches = KeyedBatchSampler(loader.batch_sampler)
    return rebuild_loader(loader, dataset=SampleSeeded(loader.dataset, seed, rank), batch_sampler=batches), batches
