# Ablation on SE-ResNet-50: SE in stage 3 (conv3_x, layer2) only.
# The paper's result: configs/imagenet/README.md.
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_stages=(False, True, False, False)))
