# Ablation on SE-ResNet-50 (the paper's, top-1 / top-5 error): SE in stage 3 (conv3_x, layer2) only. Paper: 23.04 / 6.32.
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_stages=(False, True, False, False)))
