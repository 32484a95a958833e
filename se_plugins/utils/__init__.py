from .errors import (CheckpointWriteError, InputError, MissingInputError, Preempted, StopRun, input_error_message,
                     run_cli)
from .io import atomic_save, atomic_write, fsync_path, replace_durably
from .validation import NUMBER_RANGES, ChoiceError, check_choice, check_per_stage, check_positive_int, number_problem

__all__ = [
    'CheckpointWriteError', 'InputError', 'MissingInputError', 'Preempted', 'StopRun', 'run_cli',
    'input_error_message', 'atomic_save', 'atomic_write', 'fsync_path', 'replace_durably', 'ChoiceError',
    'check_choice', 'check_per_stage', 'check_positive_int', 'NUMBER_RANGES', 'number_problem'
]
