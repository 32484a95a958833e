# SE-ResNet-101, the paper's recipe.
# The paper's result: configs/imagenet/README.md.
_base_ = './se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(depth=101))
