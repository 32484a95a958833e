# Faster R-CNN R-50-FPN 1x with the paper's SE block added to mmdet's ResNet-50 as an mmcv plugin: SE after
# the last BN of every bottleneck's residual branch, before the sum (position 'after_conv3'), in all four
# stages. The plain network starts from torchvision's ImageNet weights, the SE layers from scratch
# (mmdet's GCNet configs add their context block the same way).
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py',
    '../_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime_det.py',
]
custom_imports = dict(imports=['se_plugins'], allow_failed_imports=False)

model = dict(
    backbone=dict(plugins=[
        dict(cfg=dict(type='se_plugins.SEPlugin', ratio=16), stages=(True, True, True, True), position='after_conv3')
    ]))
