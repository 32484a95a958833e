"""DataLoaders for runs that are stopped and resumed: quiet workers, per-sample seeds, untouched global state."""
import json
import multiprocessing.forkserver
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from torch.utils.data import DataLoader, Dataset, RandomSampler

from se_plugins.engine import quiet_workers, rebuild_loader, sample_seeded, start_worker_server
from se_plugins.engine.workers import WORKER_IGNORED_SIGNALS

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


RANK_WITH_WORKERS = """
import json, multiprocessing.forkserver, multiprocessing.resource_tracker, os, signal, sys, time
import torch.distributed as dist
from mmengine.config import Config
from torch.utils.data import DataLoader, Dataset
from se_plugins.engine import quiet_workers, start_worker_server
from se_plugins.engine.workers import WORKER_IGNORED_SIGNALS


class Parents(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, index):
        return [os.getpid(), os.getppid()]


def main():
    if sys.argv[2] == 'early':  # as the tools start it
        start_worker_server(Config(dict(launcher='pytorch', env_cfg=dict(mp_cfg=dict(mp_start_method='fork')),
                                        train_dataloader=dict(num_workers=2))))
    if sys.argv[2] == 'one process':  # as the tools start it for a run without a process group
        start_worker_server(Config(dict(launcher='none', train_dataloader=dict(num_workers=2))))
    else:
        dist.init_process_group('gloo', init_method='file://' + sys.argv[1], rank=0, world_size=1)
    received = []
    for name in WORKER_IGNORED_SIGNALS:
        signal.signal(getattr(signal, name), lambda number, frame: received.append(signal.Signals(number).name))
    loader = quiet_workers(DataLoader(Parents(), batch_size=None, num_workers=2, persistent_workers=True))
    loaded = list(loader)
    print(json.dumps(dict(start_method=loader.multiprocessing_context.get_start_method(), loaded=loaded,
                          server=multiprocessing.forkserver._forkserver._forkserver_pid,
                          tracker=multiprocessing.resource_tracker._resource_tracker._pid)), flush=True)
    sys.stdin.readline()  # meanwhile the test signals every process of this one's group
    deadline = time.time() + 10
    while len(received) < len(WORKER_IGNORED_SIGNALS) and time.time() < deadline:
        time.sleep(0.01)
    print(json.dumps(dict(received=received, loaded=list(loader))), flush=True)
    sys.stdin.readline()  # and then kills it


if __name__ == '__main__':
    main()
"""


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended (a zombie has)."""
    try:
        with open(f'/proc/{pid}/stat') as stat:
            return stat.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


def deaf_to(pid: int) -> set:
    """The signals process ``pid`` blocks or ignores."""
    status = dict(line.split(':\t', 1) for line in Path(f'/proc/{pid}/status').read_text().splitlines())
    mask = int(status['SigBlk'], 16) | int(status['SigIgn'], 16)
    return {number for number in range(1, 64) if mask >> (number - 1) & 1}


def next_report(process: subprocess.Popen) -> dict:
    """The next JSON line ``process`` prints (the fork prints "Could not import OneDL" on import)."""
    for line in process.stdout:
        if line.startswith('{'):
            return json.loads(line)
    raise AssertionError(f'ended with {process.wait()} before its report')


@pytest.mark.parametrize('server', ['early', 'late', 'one process'])
def test_workers_of_a_rank_start_from_a_fork_server_that_stop_signals_spare_and_that_ends_with_the_rank(
        server, tmp_path):
    """In a process group, a loader's workers are not forked from the rank (whose backend threads can leave a
    forked child hung for good) but from a fork server, forked from the rank before the group started (the
    tools) or started when the loader is built; in a one-process run, from the server the tools fork before
    the model exists (a forked worker makes its parent copy each page it writes); a signal to every process of
    the job leaves the server and the workers serving and reaches the rank's handlers; when the rank is
    killed, its workers and the server end."""
    script = tmp_path / 'rank.py'
    script.write_text(RANK_WITH_WORKERS)
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path / 'store'), server], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    first = {}
    try:
        first = next_report(process)
        workers = {pid for pid, _ in first['loaded']}
        assert first['start_method'] == 'forkserver' and len(workers) == 2
        assert {parent for _, parent in first['loaded']} == {first['server']} and first['server'] != process.pid
        started_anew = b'multiprocessing.forkserver' in Path(f"/proc/{first['server']}/cmdline").read_bytes()
        assert started_anew == (server == 'late')  # a fork of the rank, or a new interpreter
        for name in WORKER_IGNORED_SIGNALS:
            os.killpg(process.pid, getattr(signal, name))
        process.stdin.write('\n')
        process.stdin.flush()
        second = next_report(process)
        assert sorted(second['received']) == sorted(WORKER_IGNORED_SIGNALS)
        assert second['loaded'] == first['loaded'] and running(first['server'])  # the same workers, still serving
        assert running(first['tracker'])  # multiprocessing's resource tracker (their queues' semaphores)
        stop_signals = {getattr(signal, name) for name in WORKER_IGNORED_SIGNALS}
        assert stop_signals <= deaf_to(first['server']) and stop_signals <= deaf_to(first['tracker'])
        process.kill()
        process.wait(timeout=10)
        deadline = time.time() + 15
        while any(map(running, workers | {first['server']})) and time.time() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers | {first['server']} if running(pid)], 'outlived the killed rank'
    finally:
        process.kill()
        for pid in {pid for pid, _ in first.get('loaded', [])} | {first.get('server')} - {None}:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize('launcher', ['none', 'pytorch'])
@pytest.mark.parametrize('run', [
    dict(env_cfg=dict(mp_cfg=dict(mp_start_method='spawn')), train_dataloader=dict(num_workers=2)),  # not forked
    dict(train_dataloader=dict(num_workers=0), val_dataloader=dict(num_workers=0), test_dataloader=None),  # none
])
def test_the_tools_start_no_worker_server_for_a_run_without_forked_workers(launcher, run):
    start_worker_server(Config(dict(launcher=launcher, **run)))
    assert multiprocessing.forkserver._forkserver._forkserver_pid is None


def test_the_tools_start_a_worker_server_if_any_loader_of_the_run_has_workers():
    start_worker_server(Config(dict(launcher='none', train_dataloader=dict(num_workers=0),
                                    val_dataloader=dict(num_workers=1))))
    assert running(multiprocessing.forkserver._forkserver._forkserver_pid)  # ended by conftest after the test


class Parent(Dataset):
    """Each item: the process id of the parent of the process that loads it."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> int:
        return os.getppid()


def test_a_process_without_a_worker_server_or_process_group_forks_its_workers():
    """A script of one's own that builds loaders without the tools' early server: its workers are forked from
    it, as torch's are (starting a server at the first loader would cost seconds of imports)."""
    assert multiprocessing.forkserver._forkserver._forkserver_pid is None
    loader = quiet_workers(DataLoader(Parent(), batch_size=None, num_workers=1))
    assert loader.multiprocessing_context is None and list(loader) == [os.getpid()] * 2
