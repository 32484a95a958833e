# The SE-ResNet-50 backbone of se_plugins' detectors, in place of mmdet's ResNet-50 (same outputs, frozen stem
# and first stage, frozen BN statistics). A detector config takes it as
#     model = dict(backbone=_base_.se_resnet50_backbone)
# ImageNet SE-ResNet-50 weights: timm's seresnet50.a1_in1k, fetched into timm's cache and converted as they load
# (docs/converters.md); or a checkpoint of configs/imagenet/se-resnet50_8xb128-paper_in1k.py.
pretrained = 'timm://seresnet50.a1_in1k'
se_resnet50_backbone = dict(
    _delete_=True,
    type='se_plugins.SEResNet',
    depth=50,
    out_indices=(0, 1, 2, 3),
    frozen_stages=1,
    norm_cfg=dict(type='BN', requires_grad=True),
    norm_eval=True,
    style='pytorch',
    init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.'))
