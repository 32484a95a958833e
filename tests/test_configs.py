"""Every config in configs/ parses and builds its model (init_cfg off: no weights are loaded)."""
import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

import se_plugins  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)


def test_the_task_configs_exist():
    names = {osp.basename(p) for p in CONFIGS}
    assert 'faster_rcnn_se_r50_coco.py' in names
    for task in ('faster_rcnn', 'imagenet', 'places365'):
        assert any(p.startswith(f'configs/{task}/') for p in CONFIGS), task


@pytest.mark.parametrize('path', CONFIGS)
def test_config_builds_its_model(path):
    cfg = Config.fromfile(osp.join(REPO, path))
    assert cfg.custom_imports.imports == ['se_plugins']
    assert cfg.model.backbone.type.startswith('se_plugins.')
    assert 'torchvision://' not in str(cfg.model.backbone.get('init_cfg'))
    assert cfg.default_hooks.checkpoint.type == 'se_plugins.AtomicCheckpointHook'
    assert 'se_plugins.FiniteLossHook' in [h.type for h in cfg.custom_hooks]
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    assert type(model.backbone).__module__.startswith('se_plugins.')
    if cfg.default_scope == 'mmdet':
        backbone = cfg.model.backbone
        assert backbone.out_indices == (0, 1, 2, 3)
        if 'cpu-demo' not in path:  # the demo trains from scratch, see its comments
            assert backbone.frozen_stages == 1 and backbone.norm_eval is True
            assert backbone.init_cfg.type == 'Pretrained' and backbone.init_cfg.prefix == 'backbone.'


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
