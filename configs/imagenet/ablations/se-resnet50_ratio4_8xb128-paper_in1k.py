# Ablation on SE-ResNet-50 (the paper's, top-1 / top-5 error): reduction ratio r = 4. Paper: 22.25 / 6.09, 35.7M parameters.
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_ratio=4))
