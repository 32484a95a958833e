# SE-ResNet-50 on Places365-Standard, fine-tuned from ImageNet weights (timm's, converted as they load; or a
# checkpoint of configs/imagenet/): lr 0.01, 30 epochs.
_base_ = './se-resnet50_8xb32-scratch_places365.py'

pretrained = 'timm://seresnet50.a1_in1k'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = dict(milestones=[10, 20])
train_cfg = dict(max_epochs=30)
