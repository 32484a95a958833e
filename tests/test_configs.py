"""Every config in configs/ parses and builds its model (init_cfg off: no weights are loaded)."""
import os.path as osp
import re

import pytest
import torch
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config

import se_plugins  # noqa: F401
from se_plugins.building import build_model, in_scope, without_initialisation
from se_plugins.models.layers import SqueezeExcitation

from helpers import CONFIGS, REPO


def test_the_task_configs_exist():
    names = {osp.basename(p) for p in CONFIGS}
    assert 'faster_rcnn_se_r50_coco.py' in names
    for task in ('faster_rcnn', 'imagenet', 'places365', 'se_plugin', 'retinanet', 'mask_rcnn'):
        assert any(p.startswith(f'configs/{task}/') for p in CONFIGS), task


def se_plugin_types(backbone: dict) -> list:
    return [plugin.cfg.type for plugin in backbone.get('plugins') or []]


@pytest.mark.parametrize('path', CONFIGS)
def test_config_builds_its_model(path):
    cfg = Config.fromfile(osp.join(REPO, path))
    assert cfg.custom_imports.imports == ['se_plugins']
    backbone = cfg.model.backbone
    ours = backbone.type.startswith('se_plugins.')
    # SE in one of our backbones, or as our plugin in one of mmdet's
    assert ours or se_plugin_types(backbone) and set(se_plugin_types(backbone)) == {'se_plugins.SEPlugin'}
    init_checkpoint = str((backbone.get('init_cfg') or {}).get('checkpoint'))
    if ours:  # SE weights: torchvision has none
        assert 'torchvision://' not in init_checkpoint
    assert cfg.default_hooks.checkpoint.type == 'se_plugins.AtomicCheckpointHook'
    assert 'se_plugins.FiniteLossHook' in [h.type for h in cfg.custom_hooks]
    with without_initialisation():  # its structure is what is checked
        model = build_model(cfg)
    assert any(isinstance(m, SqueezeExcitation) for m in model.backbone.modules())
    if cfg.default_scope == 'mmdet':
        assert backbone.out_indices == (0, 1, 2, 3)
        assert cfg.train_dataloader.dataset.type == cfg.val_dataloader.dataset.type == 'se_plugins.CocoDataset'
        if 'cpu-demo' not in path:  # the demos train from scratch, see their comments
            assert backbone.frozen_stages == 1 and backbone.norm_eval is True
            assert backbone.init_cfg.type == 'Pretrained'
            if ours:  # a classifier's checkpoint: its backbone.* tensors
                assert backbone.init_cfg.prefix == 'backbone.'
            else:  # mmdet's usual ImageNet weights of the plain network; the SE layers start fresh
                assert init_checkpoint.startswith(('torchvision://', 'open-mmlab://'))


# The detectors and backbones that no end-to-end test trains (tests/test_tools trains our Faster R-CNN configs)
DETECTION_CONFIGS = [p for p in CONFIGS
                     if p.startswith(('configs/se_plugin/', 'configs/retinanet/', 'configs/mask_rcnn/'))]


@pytest.mark.parametrize('path', DETECTION_CONFIGS)
def test_detection_config_trains_a_step(path):
    """A forward and backward pass of the whole detector on two random images with boxes (and masks)."""
    cfg = Config.fromfile(osp.join(REPO, path))
    model = build_model(cfg)
    with in_scope('mmdet'):
        with_mask = 'mask_head' in cfg.model.get('roi_head', {})
        num_classes = len(cfg.get('metainfo', {}).get('classes', ())) or 80
        packed = demo_mm_inputs(2, [[3, 96, 96]] * 2, num_items=[3, 2], num_classes=num_classes,
                                with_mask=with_mask)
        model.train()
        data = model.data_preprocessor(packed, True)
        losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    last_se = [m for m in model.backbone.modules() if isinstance(m, SqueezeExcitation)][-1]  # stage 1 may be frozen
    assert last_se.fc1.weight.grad is not None and last_se.fc1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('path', CONFIGS)
def test_config_states_the_global_batch_its_learning_rate_is_for(path):
    """``tools/train.py --auto-scale-lr`` scales by the batch run / ``auto_scale_lr.base_batch_size``:
    the config's ``<GPUs>xb<batch>`` recipe (mmdet's COCO 1x: 8 GPUs x 2 images)."""
    cfg = Config.fromfile(osp.join(REPO, path))
    recipe = re.search(r'_(\d+)xb(\d+)', osp.basename(path))
    gpus = int(recipe.group(1)) if recipe else 8 if cfg.default_scope == 'mmdet' else 1
    if 'cpu-demo' in path:  # one CPU process
        gpus = 1
    assert cfg.auto_scale_lr.base_batch_size == gpus * cfg.train_dataloader.batch_size
    assert not cfg.auto_scale_lr.get('enable', False)  # only the command line turns it on


def test_paper_recipe():
    cfg = Config.fromfile(osp.join(REPO, 'configs/imagenet/se-resnet50_8xb128-paper_in1k.py'))
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 1024
    assert cfg.optim_wrapper.optimizer.type == 'SGD'
    assert (cfg.optim_wrapper.optimizer.lr, cfg.optim_wrapper.optimizer.momentum,
            cfg.optim_wrapper.optimizer.weight_decay) == (0.6, 0.9, 1e-4)
    assert cfg.param_scheduler.milestones == [30, 60, 90] and cfg.param_scheduler.gamma == 0.1
    assert cfg.train_cfg.max_epochs == 100
    train, test = cfg.train_dataloader.dataset.pipeline, cfg.test_dataloader.dataset.pipeline
    assert [t.type for t in train[1:3]] == ['RandomResizedCrop', 'RandomFlip'] and train[1].scale == 224
    assert (test[1].type, test[1].scale, test[2].type, test[2].crop_size) == ('ResizeEdge', 256, 'CenterCrop', 224)
