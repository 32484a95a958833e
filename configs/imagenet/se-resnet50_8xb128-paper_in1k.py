# SE-ResNet-50 on ImageNet with the paper's recipe: SGD (momentum 0.9, weight decay 1e-4),
# mini-batch 1024 (8 GPUs x 128), lr 0.6 divided by 10 every 30 epochs, 100 epochs from scratch;
# random-size crop to 224 and horizontal flip; evaluation: shorter side 256, centre crop 224.
# The paper's result: configs/imagenet/README.md.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    '../_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    '../_base_/default_runtime_cls.py',
]
custom_imports = dict(imports=['se_plugins'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, type='se_plugins.SEResNet', depth=50))
train_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(lr=0.6))
auto_scale_lr = dict(base_batch_size=1024)
