# SE-Inception-ResNet-v2 on ImageNet with the paper's recipe (see se-resnet50_8xb128-paper_in1k.py) on
# 299x299 crops, as the paper trains it; evaluation: shorter side 342, centre crop 299 (mmpretrain's
# Inception-v3 evaluation).
_base_ = './se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(_delete_=True, type='se_plugins.SEInceptionResNetV2'), head=dict(in_channels=1536))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=299),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=342, edge='short'),
    dict(type='CenterCrop', crop_size=299),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
