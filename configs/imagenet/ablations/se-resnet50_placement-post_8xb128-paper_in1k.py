# Ablation on SE-ResNet-50 (the paper's, top-1 / top-5 error): SE-POST, the SE after the sum with the identity. Paper: 22.78 / 6.35.
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_placement='post'))
