# mmdet's COCO instance-segmentation data (boxes and masks), read by se_plugins.CocoDataset (see
# coco_detection.py).
_base_ = 'mmdet::_base_/datasets/coco_instance.py'

train_dataloader = dict(dataset=dict(type='se_plugins.CocoDataset'))
val_dataloader = dict(dataset=dict(type='se_plugins.CocoDataset'))
test_dataloader = val_dataloader
