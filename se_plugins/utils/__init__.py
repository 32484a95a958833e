from .errors import (CheckpointWriteError, InputError, MissingInputError, Preempted, StopRun, input_error_message,
                     run_cli)
from .io import atomic_save, atomic_write, fsync_path, replace_durably

__all__ = [
    'CheckpointWriteError', 'InputError', 'MissingInputError', 'Preempted', 'StopRun', 'run_cli',
    'input_error_message', 'atomic_save', 'atomic_write', 'fsync_path', 'replace_durably'
]
