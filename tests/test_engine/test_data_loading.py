"""DataLoaders for runs that are stopped and resumed: quiet workers, per-sample seeds, untouched global state."""
import random
import signal

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from se_plugins.engine import quiet_workers, rebuild_loader, sample_seeded
from se_plugins.engine.data_loading import WORKER_IGNORED_SIGNALS

INITIALISED = []  # in a worker: the worker ids its loader's own worker_init_fn saw


class SignalHandlers(Dataset):
    """Reports, from the process that loads it, which stop signals it ignores and whether the loader's own
    worker_init_fn ran there."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> tuple:
        ignored = [name for name in WORKER_IGNORED_SIGNALS if signal.getsignal(getattr(signal, name)) == signal.SIG_IGN]
        return ignored, list(INITIALISED)


@pytest.fixture
def default_stop_handlers():
    """The stop signals' handlers as a job's processes start with them, whatever started pytest (a shell's
    background job ignores SIGINT), restored afterwards."""
    signals = [getattr(signal, name) for name in WORKER_IGNORED_SIGNALS]
    previous = [signal.getsignal(number) for number in signals]
    for number in signals:
        signal.signal(number, signal.default_int_handler if number == signal.SIGINT else signal.SIG_DFL)
    yield
    for number, handler in zip(signals, previous):
        signal.signal(number, handler)


def test_quiet_workers_ignore_the_stop_signals_and_keep_the_loaders_own_init(default_stop_handlers):
    plain = DataLoader(SignalHandlers(), batch_size=None, num_workers=1, worker_init_fn=INITIALISED.append)
    assert list(quiet_workers(plain)) == [[list(WORKER_IGNORED_SIGNALS), [0]]] * 2  # collated as lists
    assert list(plain) == [[[], [0]]] * 2  # torch's workers: SIGTERM kills them (torch's own handler)


def test_iterating_a_quiet_loader_leaves_the_global_random_state_alone():
    loader = quiet_workers(DataLoader(list(range(4)), batch_size=2), seed=3)
    state = torch.get_rng_state()
    list(loader)
    assert torch.equal(state, torch.get_rng_state())
    list(DataLoader(list(range(4)), batch_size=2))  # a plain loader draws its base seed from it
    assert not torch.equal(state, torch.get_rng_state())


class RandomDraws(Dataset):
    """Each item: its index and one draw from each of Python's, NumPy's and torch's generators."""

    def __len__(self) -> int:
        return 12

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor([index, random.random(), float(np.random.rand()), float(torch.rand(1))],
                            dtype=torch.float64)


def draws(num_workers: int, epoch: int, skip: int = 0, persistent: bool = False, seed: int = 7) -> torch.Tensor:
    shuffle = RandomSampler(RandomDraws(), generator=torch.Generator().manual_seed(epoch))  # as mmengine's sampler
    loader = DataLoader(RandomDraws(), batch_size=3, sampler=shuffle, num_workers=num_workers,
                        persistent_workers=persistent)
    loader, batches = sample_seeded(loader, seed=seed, rank=0)
    batches.start_epoch(epoch)
    if skip:  # an epoch resumed after `skip` batches, as EpochBasedTrainLoop does it
        loader = rebuild_loader(loader, batch_sampler=list(batches)[skip:])
    return torch.cat(list(loader))


def test_each_samples_draws_depend_on_the_sample_and_epoch_not_on_the_workers():
    reference = draws(0, epoch=1)
    assert sorted(reference[:, 0].tolist()) == list(range(12))
    for num_workers, persistent in ((1, False), (2, False), (2, True)):
        torch.testing.assert_close(draws(num_workers, epoch=1, persistent=persistent), reference, rtol=0, atol=0)
    torch.testing.assert_close(draws(2, epoch=1, skip=2), reference[6:], rtol=0, atol=0)  # resumed mid-epoch
    assert not torch.equal(draws(0, epoch=2)[:, 1:], reference[:, 1:])  # another epoch, other draws
    assert not torch.equal(draws(0, epoch=1, seed=8)[:, 1:], reference[:, 1:])  # another run's seed


def test_loading_in_the_main_process_leaves_trainings_random_numbers_alone():
    loader, _ = sample_seeded(DataLoader(RandomDraws(), batch_size=4), seed=0, rank=0)
    before = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    loaded = torch.cat(list(loader))
    assert len(set(loaded[:, 1].tolist())) == 12  # every sample drew
    after = random.getstate(), np.random.get_state()[1], torch.get_rng_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and torch.equal(before[2], after[2])
