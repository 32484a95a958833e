# Faster R-CNN R-50-FPN 1x with the paper's SE block added to mmdet's ResNet-50 as an mmcv plugin: SE after
# the last BN of every bottleneck's residual branch, before the sum (position 'after_conv3'), in all four
# stages. The plain network starts from torchvision's ImageNet weights, the SE layers from scratch
# (mmdet's GCNet configs add their context block the same way).
_base_ = '../faster_rcnn/faster-rcnn_se-r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=50,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        plugins=[
            dict(cfg=dict(type='se_plugins.SEPlugin', ratio=16), stages=(True, True, True, True),
                 position='after_conv3')
        ],
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')))
