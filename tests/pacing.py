"""A hook for tests that signal a training run in a given phase: training and validation iterations that take
``seconds`` longer, the way a slow file system makes them (the process sleeps; the CPU stays free for other
runs). Test configs import it through ``custom_imports``, with ``tests/`` on the run's PYTHONPATH."""
import os
import time
from typing import Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class PaceHook(Hook):
    """Sleep ``seconds`` after every training and validation iteration.

    Args:
        seconds: How long.
        seconds_once_requeued: How long in a Slurm job's later runs (``SLURM_RESTART_COUNT`` > 0), if not
            ``seconds``: a first run slow enough to reach its time limit for sure, then runs that end well
            before it (a run ending within slurmctld's check period after the limit is TIMEOUT, done or not).
    """

    def __init__(self, seconds: float, seconds_once_requeued: Optional[float] = None) -> None:
        requeued = int(os.environ.get('SLURM_RESTART_COUNT', 0)) > 0
        self.seconds = seconds if seconds_once_requeued is None or not requeued else seconds_once_requeued

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        time.sleep(self.seconds)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        time.sleep(self.seconds)
