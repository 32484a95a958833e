# Ablation on SE-ResNet-50 (the paper's, top-1 / top-5 error): reduction ratio r = 32. Paper: 22.72 / 6.20, 26.9M parameters.
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_ratio=32))
