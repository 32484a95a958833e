# RetinaNet with an SE-ResNet-50 FPN backbone on COCO: mmdet's R50-FPN 1x recipe
# (mmdet::retinanet/retinanet_r50_fpn_1x_coco.py) with the backbone replaced.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    '../_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime_det.py',
    'mmdet::retinanet/retinanet_tta.py',
    '../_base_/models/se-resnet50_fpn_backbone.py',
]
custom_imports = dict(imports=['se_plugins'], allow_failed_imports=False)

model = dict(backbone=_base_.se_resnet50_backbone)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
