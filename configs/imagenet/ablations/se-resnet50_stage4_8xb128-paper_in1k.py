# Ablation on SE-ResNet-50: SE in stage 4 (conv4_x, layer3) only.
# The paper's result: configs/imagenet/README.md.
_base_ = '../se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(se_stages=(False, False, True, False)))
