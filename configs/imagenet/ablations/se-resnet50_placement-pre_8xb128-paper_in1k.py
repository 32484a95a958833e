# Ablation on SE-ResNet-50 (the paper's, top-1 / top-5 error): SE-PRE, the SE before the residual branch. Paper: 22.23 / 6.00.
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_placement='pre'))
