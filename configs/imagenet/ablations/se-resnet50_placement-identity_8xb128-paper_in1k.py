# Ablation on SE-ResNet-50 (the paper's, top-1 / top-5 error): SE-Identity, the SE on the identity branch. Paper: 22.20 / 6.15.
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_placement='identity'))
