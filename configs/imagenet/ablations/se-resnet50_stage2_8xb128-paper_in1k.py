# Ablation on SE-ResNet-50 (the paper's, top-1 / top-5 error): SE in stage 2 (conv2_x, layer1) only. Paper: 23.03 / 6.48.
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_stages=(True, False, False, False)))
