# Faster R-CNN with an SE-ResNet-50 FPN backbone on COCO (the paper's detection experiment):
# mmdet's R50-FPN 1x recipe with the backbone replaced.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['se_plugins'], allow_failed_imports=False)

# ImageNet SE-ResNet-50 weights in se_plugins' format: convert timm's seresnet50 weights with
# tools/model_converters/se_convert.py, or train configs/imagenet/se-resnet50_8xb128-paper_in1k.py.
pretrained = 'checkpoints/se-resnet50_timm.pth'
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
# mmdet's CocoDataset, with bad input (json, classes, images) reported by file, key or image id.
train_dataloader = dict(dataset=dict(type='se_plugins.CocoDataset'))
val_dataloader = dict(dataset=dict(type='se_plugins.CocoDataset'))
test_dataloader = val_dataloader
# Checkpoints written atomically, with the random state: see se_plugins.engine.AtomicCheckpointHook.
default_hooks = dict(checkpoint=dict(type='se_plugins.AtomicCheckpointHook'))
# Stop at the first NaN/inf loss, naming the iteration and the loss term.
custom_hooks = [dict(type='se_plugins.FiniteLossHook')]
# A rank that waits longer than this for the others (one died or hangs) fails, and the run ends.
env_cfg = dict(dist_cfg=dict(timeout=600))
