from .checkpoint import (AtomicCheckpointHook, ResumeError, capture_rng, checkpoint_problem, require_checkpoint,
                         resolve_resume, restore_rng, save_checkpoint_atomically)
from .config_checks import build_model, task_scope
from .hooks import BadImagesHook, DistributedWeightCheckHook, FiniteLossHook, FuseConvBNHook, tensor_digest
from .preemption import EpochBasedTrainLoop, PreemptionHook, prepare_training
from .runner_setup import (SERunner, end_cpu_distributed, load_config, parse_tool_args,
                           run_leaving_nothing_on_early_failure, setup_cpu_distributed)

__all__ = [
    'AtomicCheckpointHook', 'ResumeError', 'capture_rng', 'checkpoint_problem', 'require_checkpoint', 'resolve_resume',
    'restore_rng', 'save_checkpoint_atomically', 'EpochBasedTrainLoop', 'PreemptionHook', 'prepare_training',
    'BadImagesHook', 'DistributedWeightCheckHook', 'FiniteLossHook', 'FuseConvBNHook', 'tensor_digest',
    'build_model', 'end_cpu_distributed', 'SERunner', 'load_config', 'parse_tool_args', 'task_scope',
    'run_leaving_nothing_on_early_failure', 'setup_cpu_distributed'
]
