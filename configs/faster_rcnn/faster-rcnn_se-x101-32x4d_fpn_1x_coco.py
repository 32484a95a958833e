_base_ = './faster-rcnn_se-r50_fpn_1x_coco.py'

pretrained = 'timm://seresnext101_32x4d.gluon_in1k'  # timm's ImageNet weights, converted as they load
model = dict(
    backbone=dict(
        type='se_plugins.SEResNeXt', depth=101, groups=32, width_per_group=4,
        init_cfg=dict(checkpoint=pretrained)))
