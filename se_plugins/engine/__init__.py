from .amp import CPUAmpOptimWrapper, Float32Predictions, apply_amp, run_mmcv_ops_in_float32
from .checkpoint import (AtomicCheckpointHook, ResumeError, capture_rng, checkpoint_problem, require_checkpoint,
                         resolve_resume, restore_rng, save_checkpoint_atomically)
from .checkpoint_fit import checkpoint_fit, require_checkpoint_fit
from .command_line import TRACKERS, add_trackers, apply_test_options, load_config, parse_tool_args
from .config_checks import check_config
from .data_loading import KeyedBatchSampler, SampleSeeded, sample_seeded
from .distributed import end_cpu_distributed, setup_cpu_distributed, slurm_to_torch_environment
from .hooks import (BadImagesHook, ClassificationDrawingHook, DistributedWeightCheckHook, FiniteLossHook,
                    FuseConvBNHook, tensor_digest)
from .preemption import (STOP_SIGNALS, EpochBasedTrainLoop, IterBasedTrainLoop, PreemptionHook, StopSignals,
                         listen_for_stop_signals, prepare_testing, prepare_training)
from .runner import SERunner, run_leaving_nothing_on_early_failure
from .workers import end_quiet_workers, quiet_workers, rebuild_loader, start_worker_server

__all__ = [
    'CPUAmpOptimWrapper', 'Float32Predictions', 'apply_amp', 'run_mmcv_ops_in_float32',
    'AtomicCheckpointHook', 'ResumeError', 'capture_rng', 'checkpoint_fit', 'checkpoint_problem', 'require_checkpoint',
    'require_checkpoint_fit', 'resolve_resume',
    'restore_rng', 'save_checkpoint_atomically', 'EpochBasedTrainLoop', 'IterBasedTrainLoop', 'PreemptionHook',
    'prepare_testing', 'prepare_training', 'STOP_SIGNALS', 'StopSignals', 'listen_for_stop_signals',
    'KeyedBatchSampler', 'SampleSeeded',
    'end_quiet_workers', 'quiet_workers', 'rebuild_loader', 'sample_seeded', 'slurm_to_torch_environment',
    'BadImagesHook', 'ClassificationDrawingHook', 'DistributedWeightCheckHook', 'FiniteLossHook', 'FuseConvBNHook',
    'tensor_digest',
    'check_config', 'end_cpu_distributed', 'SERunner', 'TRACKERS', 'add_trackers', 'apply_test_options', 'load_config',
    'parse_tool_args',
    'run_leaving_nothing_on_early_failure', 'setup_cpu_distributed', 'start_worker_server'
]
