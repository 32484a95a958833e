# Mask R-CNN with an SE-ResNet-50 FPN backbone on COCO (boxes and masks): mmdet's R50-FPN 1x recipe with
# the backbone replaced.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime_det.py',
    '../_base_/models/se-resnet50_fpn_backbone.py',
]
custom_imports = dict(imports=['se_plugins'], allow_failed_imports=False)

model = dict(backbone=_base_.se_resnet50_backbone)
