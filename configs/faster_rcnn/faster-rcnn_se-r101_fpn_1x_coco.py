_base_ = './faster-rcnn_se-r50_fpn_1x_coco.py'

pretrained = 'checkpoints/se-resnet101_timm.pth'  # timm's seresnet101, converted
model = dict(backbone=dict(depth=101, init_cfg=dict(checkpoint=pretrained)))
