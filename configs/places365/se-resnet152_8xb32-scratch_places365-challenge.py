# SE-ResNet-152 on Places365-Challenge from scratch: the paper's scene-classification experiment (its
# result: configs/places365/README.md).
_base_ = './se-resnet50_8xb32-scratch_places365.py'

model = dict(backbone=dict(depth=152))
train_dataloader = dict(dataset=dict(split='train_challenge'))
