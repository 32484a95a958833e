# SE-ResNet-50 on Places365-Standard from scratch: ImageNet's bs256 schedule (SGD lr 0.1,
# divided by 10 every 30 epochs, 100 epochs).
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    '../_base_/datasets/places365_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    '../_base_/default_runtime_cls.py',
]
custom_imports = dict(imports=['se_plugins'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='se_plugins.SEResNet', depth=50),
    head=dict(num_classes=365))
