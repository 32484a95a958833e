# Ablation on SE-ResNet-50: reduction ratio r = 2.
# The paper's result: configs/imagenet/README.md.
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_ratio=2))
