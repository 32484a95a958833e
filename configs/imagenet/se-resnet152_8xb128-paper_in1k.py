# SE-ResNet-152, the paper's recipe. Paper: 21.57 / 5.73 top-1 / top-5 error.
_base_ = './se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(depth=152))
