# Ablation on SE-ResNet-50: max-pooling squeeze.
# The paper's result: configs/imagenet/README.md.
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_squeeze='max'))
