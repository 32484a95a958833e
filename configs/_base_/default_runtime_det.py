# mmdet's runtime with se_plugins' reliability settings (docs/reliability.md).
_base_ = 'mmdet::_base_/default_runtime.py'
# Registers the se_plugins scope in any launcher that builds a Runner from a config inheriting this one
# (ours, mmpretrain's and mmdet's tools, mim, Runner.from_cfg).
custom_imports = dict(imports=['se_plugins'], allow_failed_imports=False)

# Checkpoints written atomically, with the random state: see se_plugins.engine.AtomicCheckpointHook.
default_hooks = dict(checkpoint=dict(type='se_plugins.AtomicCheckpointHook'))
# What se_plugins guarantees, in any launcher that builds a Runner from a config inheriting this one (ours,
# mmdet's tools, mim, RUNNERS.build): our Runner (training resumes mid-epoch exactly, checkpoints checked before
# they load, DataLoader workers that survive stop signals, bad images named or skipped).
runner_type = 'se_plugins.SERunner'
# Stop at the first NaN/inf loss, naming the iteration and the loss term; a stop signal (SIGTERM, SIGUSR1,
# SIGINT) ends training after its iteration with a checkpoint; bad images skipped are counted.
custom_hooks = [dict(type='se_plugins.FiniteLossHook'), dict(type='se_plugins.PreemptionHook'),
                dict(type='se_plugins.BadImagesHook')]
# A rank that waits longer than this for the others (one died or hangs) fails, and the run ends.
env_cfg = dict(dist_cfg=dict(timeout=600))
