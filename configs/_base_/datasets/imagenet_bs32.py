# mmpretrain's ImageNet data (random-size crop 224 and flip; shorter side 256, centre crop 224), read by
# se_plugins.ImageNet: mmpretrain's ImageNet with its list held in columns, bad input named by line.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs32.py'

train_dataloader = dict(dataset=dict(type='se_plugins.ImageNet'))
val_dataloader = dict(dataset=dict(type='se_plugins.ImageNet'))
test_dataloader = val_dataloader
