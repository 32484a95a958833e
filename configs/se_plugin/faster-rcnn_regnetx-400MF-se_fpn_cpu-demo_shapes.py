# The SE plugin on the CPU: configs/faster_rcnn/faster-rcnn_se-r50_fpn_cpu-demo_shapes.py (the generated shapes,
# 128x128, cut proposal counts) with the backbone of faster-rcnn_regnetx-3.2GF-se_fpn_1x_coco.py at the
# smallest RegNetX width (400MF): mmdet's RegNet with an SE plugin after every 3x3 group conv, trained from
# scratch (no ImageNet weights on this machine), so every stage trains, BN included. 32 sampled RoIs per image
# instead of the demo's 128: the RoI head, not the backbone, is what costs on a CPU.
_base_ = '../faster_rcnn/faster-rcnn_se-r50_fpn_cpu-demo_shapes.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='RegNet',
        arch='regnetx_400mf',
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        plugins=[dict(cfg=dict(type='se_plugins.SEPlugin', ratio=4), position='after_conv2')]),
    neck=dict(in_channels=[32, 64, 160, 384]),
    train_cfg=dict(rcnn=dict(sampler=dict(num=32))))
