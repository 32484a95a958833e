# SE-ResNet-152 on Places365-Challenge, fine-tuned from ImageNet weights.
_base_ = './se-resnet50_8xb32-ft_places365.py'

# The public ImageNet SE-ResNet-152 weights are the original release's (Cadene's port, timm's legacy_seresnet152):
# its network, with the stride on the first 1x1 conv and a ceil-mode max-pool.
pretrained = 'timm://legacy_seresnet152.in1k'
model = dict(backbone=dict(depth=152, style='caffe', stem_pool='caffe', init_cfg=dict(checkpoint=pretrained)))
train_dataloader = dict(dataset=dict(split='train_challenge'))
