"""DataLoader workers that survive a job's stop signals, started from a fork server.

A scheduler stops a job by signalling every process of it, DataLoader workers included; PyTorch's workers die
of SIGTERM (their C handler re-raises it), and the main process then fails with ``DataLoader worker (pid N) is
killed by signal: Terminated``. :func:`quiet_workers` makes the workers ignore the stop signals: the main
process alone decides when to stop, after the iteration in progress, and shuts its workers down.

In a process group, and in any run of the tools, workers are not forked from the training process itself but
from a fork server (:func:`worker_server`, :func:`start_worker_server`). In a process group the backend's threads
enter Python at any moment, and a worker forked at such a moment can hang in ``os.fork()`` for good. In any run,
a worker forked from the training process shares its memory copy-on-write, so while the workers live the process
pays a page copy (and a TLB flush on every core) for each page it writes (docs/reliability.md).
"""
import atexit
import gc
import io
import logging
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.resource_tracker
import os
import select
import signal
import socket
import sys
import threading
import time
import types
from functools import partial
from multiprocessing import connection
from multiprocessing.context import BaseContext
from multiprocessing.reduction import ForkingPickler
from typing import Callable, Optional, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log
from torch.utils.data import DataLoader

from .config_checks import SPLITS

# What schedulers and users send to stop a job (Slurm: TERM at a time limit or preemption, USR1/USR2 as a
# warning; HUP when a terminal closes; INT for Ctrl-C).
WORKER_IGNORED_SIGNALS = ('SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGINT', 'SIGHUP')
_WORKER_IGNORED_NUMBERS = tuple(getattr(signal, name) for name in WORKER_IGNORED_SIGNALS)

T = TypeVar('T')


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


def _exit_when_ended(pid: int) -> None:
    """Wait until process ``pid`` has ended, then end this process."""
    try:
        ended = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(0)
    except OSError:  # no pidfd (Linux < 5.3): look once a second
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            time.sleep(1)
    select.select([ended], [], [])
    os._exit(0)


def _ignore_stop_signals(worker_id: int, init_fn: Optional[Callable[[int], None]] = None,
                         main_pid: Optional[int] = None) -> None:
    """A worker's first step: ignore the stop signals (after torch has set its own handlers), then
    ``init_fn``.

    A worker started by a fork server (:func:`worker_server`) is the server's child: torch's watchdog, which
    ends a worker whose parent has gone, watches the server, so a thread of its own ends it when ``main_pid``,
    the process that iterates the loader, has ended (killed, say), and with the last worker the server ends.
    """
    for number in _WORKER_IGNORED_NUMBERS:
        signal.signal(number, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _WORKER_IGNORED_NUMBERS)  # blocked in a fork server's workers
    if main_pid is not None and os.getppid() != main_pid:
        threading.Thread(target=_exit_when_ended, args=(main_pid, ), name='main-process-watch', daemon=True).start()
    if init_fn is not None:
        init_fn(worker_id)


def _with_stop_signals_blocked(start: Callable[[], T]) -> T:
    """``start()``, which starts a helper process, with the stop signals blocked in this thread, so that the
    helper starts with them blocked and a signal to every process of the job (how Slurm stops one) does not end
    it under the processes that use it; the signals this process receives meanwhile are delivered afterwards.
    multiprocessing's resource tracker is started first, in the same way (it ignores SIGINT and SIGTERM itself,
    and unblocks them in the caller's thread)."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _WORKER_IGNORED_NUMBERS)
    caller = os.getpid()
    try:
        multiprocessing.resource_tracker.ensure_running()
        signal.pthread_sigmask(signal.SIG_BLOCK, _WORKER_IGNORED_NUMBERS)
        return start()
    finally:
        if os.getpid() == caller:  # not in a child that ``start`` forked
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


class _ModuleRecorder(ForkingPickler):
    """Pickles into nothing, recording the module of each class and function it meets (the contents of arrays
    and tensors are not copied)."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO())
        self.modules = set()

    def reducer_override(self, obj):
        if isinstance(obj, (torch.Tensor, np.ndarray)):
            self.modules.add(type(obj).__module__)
            return tuple, ()
        kind = obj if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)) else type(obj)
        if isinstance(getattr(kind, '__module__', None), str):
            self.modules.add(kind.__module__)
        return NotImplemented


def worker_server(*sent: object) -> Optional[BaseContext]:
    """multiprocessing's ``forkserver`` context, its server started if it is not running: the start method of
    the DataLoader workers of a process in a process group, and of any process that started the server early
    (:func:`start_worker_server`).

    A process group's backend has threads (gloo's, NCCL's) that enter Python whenever a finished collective's
    tensors are released, and Python 3.11's ``os.fork()`` is not safe against a thread that is entering: the
    child can block for good in ``PyOS_AfterFork_Child`` on the interpreter's thread-list lock, which that
    thread held at the fork. The worker never starts, its rank waits for its batch, and the other ranks wait in
    the next collective until the backend's timeout. A fork server is a fresh process without such threads,
    which forks a worker for each request. It imports, once, the modules of the classes and functions in
    ``sent`` (multiprocessing's own preload of the main module does nothing on 3.11), so that a worker starts
    in about the time a fork takes instead of importing them again.

    The server starts with the stop signals blocked (a signal to every process of the job must not end it under
    its workers); its workers unblock and ignore them (:func:`quiet_workers`) and end with this process.

    Args:
        sent: What the workers receive: the dataset, the collate function, the worker init function.

    Returns:
        The context, or None (with a warning) if ``sent`` cannot be pickled, as starting from a server needs:
        the workers then fork from this process.
    """
    try:
        recorder = _ModuleRecorder()
        recorder.dump(sent)
    except Exception as error:  # what pickling raises varies (TypeError, AttributeError, PicklingError...)
        risk = ('in a multi-process run a worker can then hang as it starts' if dist.is_available() and
                dist.is_initialized() else 'this process then copies each page it writes while they live')
        print_log(f'DataLoader workers start by forking this process, as their dataset cannot be sent to a fork '
                  f'server ({type(error).__name__}: {error}); {risk} (docs/reliability.md)', logger='current',
                  level=logging.WARNING)
        return None
    multiprocessing.forkserver.set_forkserver_preload(sorted(recorder.modules - {'__main__'}))
    _with_stop_signals_blocked(multiprocessing.forkserver.ensure_running)
    return multiprocessing.get_context('forkserver')


def start_worker_server(cfg: Optional[Config] = None) -> None:
    """Start the fork server of this process's DataLoader workers (:func:`worker_server`) as a fork of this
    process, before it joins a process group.

    Forked while no backend thread exists and before the model and the data fill this process's memory, the
    server holds every module this process has imported and is ready at once (one started later imports them
    first: seconds, long enough on a busy machine for a stop signal to meet the scheduler's kill first). It gets
    the stop signals blocked and leaves without running this process's exit handlers. Does nothing if a server
    runs. Call it from the main thread, before the model is built and the process group starts (the tools do).
    Once it runs, every loader of this process starts its workers from it (:func:`quiet_workers`).

    Args:
        cfg: The run's config: the server is started only if one of its loaders (``train_dataloader``,
            ``val_dataloader``, ``test_dataloader``) has workers and they would be forked
            (``env_cfg.mp_cfg.mp_start_method``, mmengine's, unset or ``fork``): a run that loads in its own
            process would only pay for the server (its pages copied on write in this process: 5 % of the CPU
            time of a short training). ``None``: start it.
    """
    if cfg is not None and not _forks_workers(cfg):
        return
    server = multiprocessing.forkserver._forkserver
    if server._forkserver_pid is not None:
        return
    address = connection.arbitrary_address('AF_UNIX')
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(address)
        os.chmod(address, 0o600)
        listener.listen()
        alive_r, alive_w = os.pipe()  # the server ends once every holder of alive_w (this process, workers) has
        sys.stdout.flush()  # not written twice
        sys.stderr.flush()
        pid = _with_stop_signals_blocked(os.fork)
        if pid == 0:  # the server
            try:
                os.close(alive_w)
                multiprocessing.forkserver.main(listener.fileno(), alive_r, [])
            finally:
                os._exit(0)
        os.close(alive_r)
    server._forkserver_address, server._forkserver_alive_fd, server._forkserver_pid = address, alive_w, pid


def _forks_workers(cfg: Config) -> bool:
    """Whether a loader of ``cfg`` has DataLoader workers and they would be forked (see :func:`start_worker_server`)."""
    if (cfg.get('env_cfg') or {}).get('mp_cfg', {}).get('mp_start_method', 'fork') != 'fork':
        return False
    return any(((cfg.get(f'{split}_dataloader') or {}).get('num_workers') or 0) > 0 for split in SPLITS)


def _workers_from_server(loader: DataLoader) -> bool:
    """Whether ``loader``, which would fork its workers from this process, starts them from a fork server
    instead: in a process group always, otherwise if this process started one (:func:`start_worker_server`)."""
    context = loader.multiprocessing_context or multiprocessing.get_context()
    if not loader.num_workers or context.get_start_method() != 'fork':
        return False
    in_group = dist.is_available() and dist.is_initialized()
    return in_group or multiprocessing.forkserver._forkserver._forkserver_pid is not None


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
    by itself. Workers that would be forked from this process start from a fork server instead
    (:func:`worker_server`) in a process group, and in any process that started one early
    (:func:`start_worker_server`, as the tools do). Starting an iteration over a
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
        changes['worker_init_fn'] = partial(_ignore_stop_signals, init_fn=loader.worker_init_fn,
                                            main_pid=os.getpid())
        global _registered_at_exit
        if not _registered_at_exit:  # after multiprocessing's, so that it runs first
            atexit.register(end_quiet_workers)
            _registered_at_exit = True
    if _workers_from_server(loader):
        context = worker_server(loader.dataset, loader.collate_fn, changes.get('worker_init_fn', loader.worker_init_fn))
        if context is not None:
            changes['multiprocessing_context'] = context
    if loader.generator is None:
        changes['generator'] = torch.Generator().manual_seed(0 if seed is None else seed)
    return rebuild_loader(loader, **changes) if changes else loader
