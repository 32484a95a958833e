# Ablation on SE-ResNet-50 (the paper's, top-1 / top-5 error): SE in stage 4 (conv4_x, layer3) only. Paper: 22.68 / 6.22.
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_stages=(False, False, True, False)))
