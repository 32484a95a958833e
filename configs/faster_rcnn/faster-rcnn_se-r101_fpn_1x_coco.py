_base_ = './faster-rcnn_se-r50_fpn_1x_coco.py'

# The public ImageNet SE-ResNet-101 weights are the original release's (Cadene's port, timm's legacy_seresnet101):
# its network, with the stride on the first 1x1 conv and a ceil-mode max-pool.
pretrained = 'timm://legacy_seresnet101.in1k'
model = dict(backbone=dict(depth=101, style='caffe', stem_pool='caffe', init_cfg=dict(checkpoint=pretrained)))
