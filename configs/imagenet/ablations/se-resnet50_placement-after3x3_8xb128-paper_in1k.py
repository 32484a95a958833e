# Ablation on SE-ResNet-50 (the paper's, top-1 / top-5 error): the SE after the 3x3 conv (fewer parameters). Paper: 22.48 / 6.02.
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_placement='after_3x3'))
