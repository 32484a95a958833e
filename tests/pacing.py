"""A hook for tests that signal a training run in a given phase: training and validation iterations that take
``seconds`` longer, the way a slow file system makes them (the process sleeps; the CPU stays free for other
runs). Test configs import it through ``custom_imports``, with ``tests/`` on the run's PYTHONPATH."""
import time

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class PaceHook(Hook):
    """Sleep ``seconds`` after every training and validation iteration.

    Args:
        seconds: How long.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        time.sleep(self.seconds)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        time.sleep(self.seconds)
