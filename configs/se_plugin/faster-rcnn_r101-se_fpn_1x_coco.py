# Faster R-CNN R-101-FPN 1x with SE plugins (see faster-rcnn_r50-se_fpn_1x_coco.py).
_base_ = './faster-rcnn_r50-se_fpn_1x_coco.py'

model = dict(backbone=dict(depth=101, init_cfg=dict(checkpoint='torchvision://resnet101')))
