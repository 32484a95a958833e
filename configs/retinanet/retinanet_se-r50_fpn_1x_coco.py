# RetinaNet with an SE-ResNet-50 FPN backbone on COCO: mmdet's R50-FPN 1x recipe with the backbone replaced
# (the same backbone and reliability settings as configs/faster_rcnn/faster-rcnn_se-r50_fpn_1x_coco.py).
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['se_plugins'], allow_failed_imports=False)

pretrained = 'checkpoints/se-resnet50_timm.pth'  # timm's seresnet50, converted (docs/converters.md)
model = dict(
    backbone=dict(
        _delete_=True,
        type='se_plugins.SEResNet',
        depth=50,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
train_dataloader = dict(dataset=dict(type='se_plugins.CocoDataset'))
val_dataloader = dict(dataset=dict(type='se_plugins.CocoDataset'))
test_dataloader = val_dataloader
default_hooks = dict(checkpoint=dict(type='se_plugins.AtomicCheckpointHook'))
custom_hooks = [dict(type='se_plugins.FiniteLossHook')]
env_cfg = dict(dist_cfg=dict(timeout=600))
