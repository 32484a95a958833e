from .errors import InputError, MissingInputError, run_cli, input_error_message
from .io import atomic_save, atomic_write, fsync_path, replace_durably

__all__ = [
    'InputError', 'MissingInputError', 'run_cli', 'input_error_message', 'atomic_save',
    'atomic_write', 'fsync_path', 'replace_durably'
]
