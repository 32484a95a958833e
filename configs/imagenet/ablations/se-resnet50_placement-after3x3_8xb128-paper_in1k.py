# Ablation on SE-ResNet-50: the SE after the 3x3 conv (fewer parameters).
# The paper's result: configs/imagenet/README.md.
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_placement='after_3x3'))
