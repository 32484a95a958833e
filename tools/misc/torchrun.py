"""torchrun as tools/dist_train.sh and tools/dist_test.sh start it: its arguments and behaviour, with two changes
for stop signals.

torchrun starts each rank in a session of its own, so a signal to the launcher's process group (``kill -TERM
-PGID``, Ctrl-C in its terminal, a scheduler's stop) reaches the ranks only as torchrun passes it on; it then
waits for them (30 s by default) and raises ``SignalException``.

- It passes on SIGUSR1 too (tools/train.py's other stop signal; Slurm's ``--signal=USR1@...``), beside its own
  SIGTERM, SIGINT, SIGHUP and SIGQUIT: without it, torchrun died of SIGUSR1 at once and the ranks ran on,
  unsupervised. ``PET_SIGNALS_TO_HANDLE`` or ``--signals-to-handle`` still choose others.
- It ends with one line and the status of a process ended by that signal (128 + its number), not the
  traceback of the ``SignalException`` under the ranks' own ``stopped:`` lines.
"""
import os
import signal
import sys

from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.run import main

SIGNALS_TO_HANDLE = 'SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1'


def run() -> int:
    """torchrun's ``main`` on ``sys.argv``; the exit status."""
    os.environ.setdefault('PET_SIGNALS_TO_HANDLE', SIGNALS_TO_HANDLE)
    try:
        main()
    except SignalException as stop:
        name = signal.Signals(stop.sigval).name
        print(f'torchrun: {name}, passed on to every rank; it ended when they had', file=sys.stderr)
        return 128 + int(stop.sigval)
    return 0


if __name__ == '__main__':
    sys.exit(run())
