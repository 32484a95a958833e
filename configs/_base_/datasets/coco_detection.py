# mmdet's COCO detection data, read by se_plugins.CocoDataset: mmdet's CocoDataset with bad input (json,
# classes, images) reported by file, key or image id.
_base_ = 'mmdet::_base_/datasets/coco_detection.py'

train_dataloader = dict(dataset=dict(type='se_plugins.CocoDataset'))
val_dataloader = dict(dataset=dict(type='se_plugins.CocoDataset'))
test_dataloader = val_dataloader
