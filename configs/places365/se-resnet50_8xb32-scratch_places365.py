# SE-ResNet-50 on Places365-Standard from scratch: ImageNet's bs256 schedule (SGD lr 0.1,
# divided by 10 every 30 epochs, 100 epochs).
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    '../_base_/datasets/places365_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['se_plugins'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='se_plugins.SEResNet', depth=50),
    head=dict(num_classes=365))
# Stop at the first NaN/inf loss; BN statistics are per rank in DDP: average them every epoch.
custom_hooks = [dict(type='se_plugins.FiniteLossHook'), dict(type='SyncBuffersHook')]
# Checkpoints written atomically, with the random state: see se_plugins.engine.AtomicCheckpointHook.
default_hooks = dict(checkpoint=dict(type='se_plugins.AtomicCheckpointHook'))
# A rank that waits longer than this for the others (one died or hangs) fails, and the run ends.
env_cfg = dict(dist_cfg=dict(timeout=600))
