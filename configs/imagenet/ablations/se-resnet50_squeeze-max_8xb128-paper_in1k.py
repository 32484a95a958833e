# Ablation on SE-ResNet-50 (the paper's, top-1 / top-5 error): max-pooling squeeze. Paper: 22.57 / 6.09 (average pooling: 22.28 / 6.03).
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_squeeze='max'))
