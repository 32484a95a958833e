# SE-VGG-16 (with BN) on ImageNet with the paper's recipe (see se-resnet50_8xb128-paper_in1k.py): SE on the
# output of every conv; VGG's own fully connected layers classify (mmpretrain's VGG, 224x224 input).
_base_ = './se-resnet50_8xb128-paper_in1k.py'

model = dict(
    backbone=dict(_delete_=True, type='se_plugins.SEVGG', depth=16, num_classes=1000),
    neck=None,
    head=dict(_delete_=True, type='ClsHead', loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))
