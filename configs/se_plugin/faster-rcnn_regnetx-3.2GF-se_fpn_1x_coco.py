# Faster R-CNN RegNetX-3.2GF-FPN 1x with SE after each block's 3x3 group conv, as RegNetY adds it (position
# 'after_conv2', SE width = 1/4 of the width there). RegNetY takes 1/4 of the block's input width: the same
# in every block but the first of each stage, whose input is the previous stage's narrower output (see
# docs/se_plugin.md). mmdet's RegNetX recipe otherwise: BGR input with pycls' statistics, weight decay 5e-5.
_base_ = './faster-rcnn_r50-se_fpn_1x_coco.py'

model = dict(
    data_preprocessor=dict(mean=[103.53, 116.28, 123.675], std=[57.375, 57.12, 58.395], bgr_to_rgb=False),
    backbone=dict(
        _delete_=True,
        type='RegNet',
        arch='regnetx_3.2gf',
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        plugins=[dict(cfg=dict(type='se_plugins.SEPlugin', ratio=4), position='after_conv2')],
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://regnetx_3.2gf')),
    neck=dict(in_channels=[96, 192, 432, 1008]))
optim_wrapper = dict(optimizer=dict(weight_decay=0.00005))
