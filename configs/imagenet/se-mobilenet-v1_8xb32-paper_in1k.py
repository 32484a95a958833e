# SE-MobileNet (v1, width 1.0, r = 16) on ImageNet with the paper's recipe for mobile networks: mini-batch
# 256 (8 GPUs x 32), weight decay 4e-5, lighter augmentation (random-size crops of at least 25 % of the
# image instead of 8 %); SGD with momentum 0.9, the paper's learning rate scaled to the batch
# (0.6 x 256 / 1024), divided by 10 every 30 epochs, 100 epochs.
_base_ = './se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(_delete_=True, type='se_plugins.SEMobileNetV1'), head=dict(in_channels=1024))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.25, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
optim_wrapper = dict(optimizer=dict(lr=0.15, weight_decay=4e-5))
auto_scale_lr = dict(base_batch_size=256)
