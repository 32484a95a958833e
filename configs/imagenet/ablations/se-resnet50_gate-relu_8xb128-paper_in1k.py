# Ablation on SE-ResNet-50 (the paper's, top-1 / top-5 error): ReLU excitation. Paper: 23.47 / 6.98 (sigmoid: 22.28 / 6.03).
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_gate='relu'))
