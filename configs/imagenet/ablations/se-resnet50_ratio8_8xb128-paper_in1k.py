# Ablation on SE-ResNet-50 (the paper's, top-1 / top-5 error): reduction ratio r = 8. Paper: 22.26 / 5.99, 30.7M parameters.
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_ratio=8))
