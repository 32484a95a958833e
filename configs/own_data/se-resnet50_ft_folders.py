# Fine-tune SE-ResNet-50 (timm's ImageNet weights, converted as they load) on your own images:
# data_root/train/<class>/*.jpg and data_root/val/<class>/*.jpg, the class names taken from the folder
# names. Your config sets data_root and num_classes (docs/own_data.md); the checks name any count that
# does not match the data. 224 crops, as the ImageNet weights were trained; SGD lr 0.01, 12 epochs.
_base_ = '../imagenet/se-resnet50_8xb32_in1k.py'

data_root = 'data/my_images/'
num_classes = 3
load_from = 'timm://seresnet50.a1_in1k'  # fetched into timm's cache once (docs/converters.md)

model = dict(head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(
    batch_size=32,
    dataset=dict(_delete_=True, type='mmpretrain.CustomDataset', data_root=data_root, data_prefix='train',
                 pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    batch_size=32,
    dataset=dict(_delete_=True, type='mmpretrain.CustomDataset', data_root=data_root, data_prefix='val',
                 pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))  # top-5 needs at least 5 classes
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[8, 11], gamma=0.1)
train_cfg = dict(max_epochs=12, val_interval=1)
auto_scale_lr = dict(base_batch_size=32)  # lr 0.01 is for one process x 32 images
