"""A run that shows its progress in a few lines and keeps everything else in a log: the CPU demo's console.

:func:`console_to_log` sends what the process and its children write to stdout and stderr (mmengine's logs, the
config and environment dumps, COCO's tables, warnings) to a log file, and gives the terminal back to the caller;
:class:`ProgressBar` draws one redrawn line per loop there: iterations, ETA and the loss.
"""
import contextlib
import os
import sys
import time
from typing import Iterator, Optional, TextIO

from mmengine.hooks import Hook


@contextlib.contextmanager
def console_to_log(log_file: str) -> Iterator[TextIO]:
    """Inside, file descriptors 1 and 2 (this process's and its children's stdout and stderr) append to
    ``log_file``; the stream it yields writes to the terminal they were. A failure inside is announced on the
    terminal with the log's path, and goes on (the caller reports it)."""
    os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved[0]), 'w', buffering=1)
    log = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(log, 1)
        os.dup2(log, 2)
        try:
            yield terminal
        except BaseException:
            terminal.write(f'\nthe run stopped; its full log: {log_file}\n')
            raise
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log):
            os.close(fd)
        terminal.close()


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f'{minutes // 60}:{minutes % 60:02d}:{seconds:02d}' if minutes >= 60 else f'{minutes}:{seconds:02d}'


class ProgressBar(Hook):
    """Draws a run's progress on one line of ``stream``, redrawn after each iteration: ``[train] ███░░ 96/192
    iterations  ETA 1:12  loss 0.812``; the same for validation and testing, without the loss.

    Args:
        stream: Where to draw (a terminal, or :func:`console_to_log`'s).
        width: Characters of the bar.
    """

    priority = 'VERY_LOW'

    def __init__(self, stream: TextIO, width: int = 24) -> None:
        self.stream, self.width = stream, width
        self.phase: Optional[str] = None
        self.total = self.done = self.first = 0
        self.started = 0.0
        self.shown = ''

    def _start(self, phase: str, total: int, done: int = 0) -> None:
        self.phase, self.total, self.done, self.first, self.started = phase, total, done, done, time.monotonic()

    def _draw(self, extra: str = '') -> None:
        filled = self.width * self.done // max(self.total, 1)
        rate = (time.monotonic() - self.started) / max(self.done - self.first, 1)
        eta = _clock(rate * (self.total - self.done)) if self.done > self.first else '?'
        line = (f'[{self.phase}] {"█" * filled}{"░" * (self.width - filled)} {self.done}/{self.total} iterations  '
                f'ETA {eta}{extra}')
        self.stream.write('\r' + line + ' ' * max(len(self.shown) - len(line), 0))
        self.stream.flush()
        self.shown = line

    def _end(self) -> None:
        if self.phase is not None:
            self.stream.write('\n')
            self.stream.flush()
        self.phase, self.shown = None, ''

    def before_train(self, runner) -> None:
        self._start('train', runner.max_iters, runner.iter)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.phase != 'train':  # back from a validation
            self._start('train', runner.max_iters, runner.iter)
        self.done = runner.iter + 1
        loss = (outputs or {}).get('loss')
        self._draw(f'  loss {float(loss):.3f}' if loss is not None else '')

    def before_val_epoch(self, runner) -> None:
        self._end()
        self._start('val', len(runner.val_loop.dataloader))

    def before_test_epoch(self, runner) -> None:
        self._end()
        self._start('test', len(runner.test_loop.dataloader))

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self.done = batch_idx + 1
        self._draw()

    after_test_iter = after_val_iter

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._end()

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._end()

    def after_train(self, runner) -> None:
        self._end()
