from .checkpoint import AtomicCheckpointHook, ResumeError, checkpoint_problem, resolve_resume
from .hooks import DistributedWeightCheckHook, FiniteLossHook, FuseConvBNHook, tensor_digest
from .runner_setup import end_cpu_distributed, load_config, parse_tool_args, setup_cpu_distributed

__all__ = [
    'AtomicCheckpointHook', 'ResumeError', 'checkpoint_problem', 'resolve_resume',
    'DistributedWeightCheckHook', 'FiniteLossHook', 'FuseConvBNHook', 'tensor_digest', 'end_cpu_distributed',
    'load_config', 'parse_tool_args', 'setup_cpu_distributed'
]
