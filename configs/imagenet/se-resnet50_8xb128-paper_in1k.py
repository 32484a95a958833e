# SE-ResNet-50 on ImageNet with the paper's recipe: SGD (momentum 0.9, weight decay 1e-4),
# mini-batch 1024 (8 GPUs x 128), lr 0.6 divided by 10 every 30 epochs, 100 epochs from scratch;
# random-size crop to 224 and horizontal flip; evaluation: shorter side 256, centre crop 224.
# The paper's result: configs/imagenet/README.md.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['se_plugins'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, type='se_plugins.SEResNet', depth=50))
# se_plugins.ImageNet: mmpretrain's ImageNet with its list held in columns, bad input named by line.
train_dataloader = dict(batch_size=128, dataset=dict(type='se_plugins.ImageNet'))
val_dataloader = dict(dataset=dict(type='se_plugins.ImageNet'))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=0.6))
auto_scale_lr = dict(base_batch_size=1024)
# Stop at the first NaN/inf loss; BN statistics are per rank in DDP: average them every epoch.
custom_hooks = [dict(type='se_plugins.FiniteLossHook'), dict(type='SyncBuffersHook')]
# Checkpoints written atomically, with the random state: see se_plugins.engine.AtomicCheckpointHook.
default_hooks = dict(checkpoint=dict(type='se_plugins.AtomicCheckpointHook'))
# A rank that waits longer than this for the others (one died or hangs) fails, and the run ends.
env_cfg = dict(dist_cfg=dict(timeout=600))
