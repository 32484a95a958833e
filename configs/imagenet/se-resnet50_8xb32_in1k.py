# SE-ResNet-50 on ImageNet with mmpretrain's SE-ResNet recipe (its seresnet50_8xb32_in1k):
# batch 256 (8 GPUs x 32), SGD lr 0.1, 140 epochs, divided by 10 at 40/80/120.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_140e.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['se_plugins'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, type='se_plugins.SEResNet', depth=50))
# se_plugins.ImageNet: mmpretrain's ImageNet with its list held in columns, bad input named by line.
train_dataloader = dict(dataset=dict(type='se_plugins.ImageNet'))
val_dataloader = dict(dataset=dict(type='se_plugins.ImageNet'))
test_dataloader = val_dataloader
# Stop at the first NaN/inf loss; BN statistics are per rank in DDP: average them every epoch.
custom_hooks = [dict(type='se_plugins.FiniteLossHook'), dict(type='SyncBuffersHook')]
# Checkpoints written atomically, with the random state: see se_plugins.engine.AtomicCheckpointHook.
default_hooks = dict(checkpoint=dict(type='se_plugins.AtomicCheckpointHook'))
# A rank that waits longer than this for the others (one died or hangs) fails, and the run ends.
env_cfg = dict(dist_cfg=dict(timeout=600))
