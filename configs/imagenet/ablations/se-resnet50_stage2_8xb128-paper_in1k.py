# Ablation on SE-ResNet-50: SE in stage 2 (conv2_x, layer1) only.
# The paper's result: configs/imagenet/README.md.
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_stages=(True, False, False, False)))
