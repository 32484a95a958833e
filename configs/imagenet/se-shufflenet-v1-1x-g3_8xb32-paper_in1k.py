# SE-ShuffleNet (v1, 1x, g = 3) on ImageNet with the paper's recipe for mobile networks (see
# se-mobilenet-v1_8xb32-paper_in1k.py: batch 256, weight decay 4e-5, lighter augmentation).
_base_ = './se-mobilenet-v1_8xb32-paper_in1k.py'

model = dict(backbone=dict(_delete_=True, type='se_plugins.SEShuffleNetV1', groups=3), head=dict(in_channels=960))
