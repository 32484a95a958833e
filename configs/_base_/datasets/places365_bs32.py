# Places365 in its official layout (se_plugins.Places365), with mmpretrain's ImageNet pipelines:
# random-size crop 224 and flip for training; shorter side 256, centre crop 224 for evaluation.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs32.py'

data_root = 'data/places365/'
data_preprocessor = dict(num_classes=365)
train_dataloader = dict(dataset=dict(type='se_plugins.Places365', data_root=data_root, split='train'))
val_dataloader = dict(dataset=dict(type='se_plugins.Places365', data_root=data_root, split='val'))
test_dataloader = val_dataloader
