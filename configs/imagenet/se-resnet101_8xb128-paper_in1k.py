# SE-ResNet-101, the paper's recipe. Paper: 22.38 / 6.07 top-1 / top-5 error.
_base_ = './se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(depth=101))
