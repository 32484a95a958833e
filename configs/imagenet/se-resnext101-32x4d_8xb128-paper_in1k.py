# SE-ResNeXt-101 (32x4d), the paper's recipe.
# The paper's result: configs/imagenet/README.md.
_base_ = './se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(type='se_plugins.SEResNeXt', depth=101, groups=32, width_per_group=4))
