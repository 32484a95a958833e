# SE-ResNet-50 on Places365-Standard, fine-tuned from ImageNet weights (converted with
# tools/model_converters/se_convert.py, or trained with configs/imagenet/): lr 0.01, 30 epochs.
_base_ = './se-resnet50_8xb32-scratch_places365.py'

pretrained = 'checkpoints/se-resnet50_timm.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = dict(milestones=[10, 20])
train_cfg = dict(max_epochs=30)
