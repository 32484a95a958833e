# SE-ResNet-152 on Places365-Challenge, fine-tuned from ImageNet weights.
_base_ = './se-resnet50_8xb32-ft_places365.py'

pretrained = 'checkpoints/se-resnet152_timm.pth'
model = dict(backbone=dict(depth=152, init_cfg=dict(checkpoint=pretrained)))
train_dataloader = dict(dataset=dict(split='train_challenge'))
