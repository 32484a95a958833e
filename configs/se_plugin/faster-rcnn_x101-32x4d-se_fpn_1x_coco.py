# Faster R-CNN X-101-32x4d-FPN 1x with SE plugins (see faster-rcnn_r50-se_fpn_1x_coco.py), from mmdet's
# ImageNet ResNeXt weights.
_base_ = './faster-rcnn_r50-se_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        type='ResNeXt', depth=101, groups=32, base_width=4,
        init_cfg=dict(checkpoint='open-mmlab://resnext101_32x4d')))
