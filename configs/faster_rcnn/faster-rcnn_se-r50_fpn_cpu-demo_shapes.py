# The CPU demo (README's `make demo`): Faster R-CNN SE-R50-FPN trained from scratch on the generated
# COCO-format shapes set (tools/misc/generate_datasets.py coco work_dirs/demo/shapes_coco).
# What changes from the COCO config, and why: 128x128 images; no ImageNet weights on this
# machine, so every stage trains, BN included; proposals cut to 300/100 and 128 sampled RoIs,
# whose RoI head would otherwise cost more than the backbone on a CPU; a short schedule, with
# gradient clipping (from-scratch training diverges at this learning rate without it).
_base_ = './faster-rcnn_se-r50_fpn_1x_coco.py'

data_root = 'work_dirs/demo/shapes_coco/'
metainfo = dict(classes=('square', 'circle', 'triangle'))
image_scale = (128, 128)
max_epochs = 6

model = dict(
    backbone=dict(frozen_stages=-1, norm_eval=False, init_cfg=None),
    roi_head=dict(bbox_head=dict(num_classes=3)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=600, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=100)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
auto_scale_lr = dict(base_batch_size=4)  # the learning rate below is for one process x 4 images
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=0.02), clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[5], gamma=0.1),
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs))
