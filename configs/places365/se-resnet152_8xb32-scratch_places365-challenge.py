# SE-ResNet-152 on Places365-Challenge from scratch: the paper's scene-classification experiment
# (SE-ResNet-152 40.37 / 11.01 top-1 / top-5 error against ResNet-152's 41.15 / 11.61).
_base_ = './se-resnet50_8xb32-scratch_places365.py'

model = dict(backbone=dict(depth=152))
train_dataloader = dict(dataset=dict(split='train_challenge'))
