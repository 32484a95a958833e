"""Training DataLoaders whose random augmentation is drawn per sample.

A worker's random state depends on which samples it loaded before (its history), and that history changes
when a run resumes mid-epoch or with another number of workers. :class:`SampleSeeded` draws each sample's
augmentation from a seed of its own, derived from the run's seed, the rank, the epoch and the sample's place
in the epoch, so a resumed run loads exactly what the uninterrupted run loaded, whatever the workers
(:mod:`.workers` makes them survive stop signals).
"""
import random
from typing import Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from .workers import quiet_workers, rebuild_loader

SampleKey = Tuple[int, int, int]  # (epoch, batch number, place in the batch)


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
