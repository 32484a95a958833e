# SE-ResNeXt-101 (32x4d), the paper's recipe. Paper: 20.70 / 5.01 top-1 / top-5 error.
_base_ = './se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(type='se_plugins.SEResNeXt', depth=101, groups=32, width_per_group=4))
