_base_ = './faster-rcnn_se-r50_fpn_1x_coco.py'

pretrained = 'checkpoints/se-resnext101-32x4d_timm.pth'  # timm's seresnext101_32x4d, converted
model = dict(
    backbone=dict(
        type='se_plugins.SEResNeXt', depth=101, groups=32, width_per_group=4,
        init_cfg=dict(checkpoint=pretrained)))
