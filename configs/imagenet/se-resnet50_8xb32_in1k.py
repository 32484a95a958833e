# SE-ResNet-50 on ImageNet with mmpretrain's SE-ResNet recipe (its seresnet50_8xb32_in1k):
# batch 256 (8 GPUs x 32), SGD lr 0.1, 140 epochs, divided by 10 at 40/80/120.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_140e.py',
    '../_base_/default_runtime_cls.py',
]
custom_imports = dict(imports=['se_plugins'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, type='se_plugins.SEResNet', depth=50))
# se_plugins.ImageNet: mmpretrain's ImageNet with its list held in columns, bad input named by line.
train_dataloader = dict(dataset=dict(type='se_plugins.ImageNet'))
val_dataloader = dict(dataset=dict(type='se_plugins.ImageNet'))
test_dataloader = val_dataloader
