"""A user's config that inherits ours as ``se_plugins::...``, run by other people's launchers: mmpretrain's and
mmdet's own train and test tools and ``mim train mmpretrain``, with the wheel installed non-editable, from a
folder outside the repository, nothing importing se_plugins before the config is read."""
import os.path as osp
import re
import textwrap

import pytest
import torch

from se_plugins.datasets import make_coco_detection, make_places365

from helpers import succeeds, user_run

pytestmark = pytest.mark.slow

CLASSIFIER = '''
_base_ = 'se_plugins::places365/se-resnet50_8xb32-scratch_places365.py'
data_root = {data_root!r}
model = dict(backbone=dict(depth=18, stem_channels=16, base_channels=16), head=dict(num_classes=2, in_channels=128))
data_preprocessor = dict(num_classes=2)
train_pipeline = [dict(type='LoadImageFromFile'), dict(type='RandomResizedCrop', scale=32), dict(type='PackInputs')]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='ResizeEdge', scale=36, edge='short'),
                 dict(type='CenterCrop', crop_size=32), dict(type='PackInputs')]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(topk=(1, ))
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=1)
'''
DETECTOR = '''
_base_ = 'se_plugins::faster_rcnn/faster-rcnn_se-r50_fpn_cpu-demo_shapes.py'
data_root = {data_root!r}
train_dataloader = dict(batch_size=2, dataset=dict(data_root=data_root))
val_dataloader = dict(batch_size=2, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=1)
'''


@pytest.fixture(scope='module')
def user_configs(installed, module_tmp_path) -> dict:
    """The user's classifier and detector configs in their project folder, on small generated data."""
    python, project = installed
    places = make_places365(str(module_tmp_path / 'places'), num_classes=2, train_per_class=4, val_per_class=2,
                            image_size=48)
    coco = str(module_tmp_path / 'coco')
    make_coco_detection(coco, num_train=4, num_val=2, image_size=64)
    configs = {}
    for name, text, data_root in (('classifier', CLASSIFIER, places), ('detector', DETECTOR, coco)):
        configs[name] = osp.join(project, f'my_{name}.py')
        with open(configs[name], 'w') as f:
            f.write(text.format(data_root=osp.join(data_root, '')))
    return configs


def upstream_tool(installed, package: str, tool: str) -> str:
    """The path of ``package``'s own tool as its wheel ships it (``<package>/.mim/tools/<tool>``)."""
    script = f'import os, {package}; print(os.path.join(os.path.dirname({package}.__file__), ".mim", "tools"))'
    return osp.join(succeeds(user_run(installed, '-c', script)).strip().splitlines()[-1], tool)


def assert_se_checkpoint(path: str) -> None:
    """The checkpoint holds our SE-ResNet's weights (its SE layers' squeeze and excitation)."""
    names = torch.load(path, map_location='cpu', weights_only=False)['state_dict']
    assert any(re.match(r'backbone\.layer1\.0\.se\.fc1\.weight$', name) for name in names), sorted(names)[:20]


def test_mmpretrain_train_and_test_tools(installed, user_configs, tmp_path):
    work_dir = str(tmp_path / 'work')
    succeeds(user_run(installed, upstream_tool(installed, 'mmpretrain', 'train.py'), user_configs['classifier'],
                      '--work-dir', work_dir))
    assert_se_checkpoint(osp.join(work_dir, 'epoch_1.pth'))
    tested = user_run(installed, upstream_tool(installed, 'mmpretrain', 'test.py'), user_configs['classifier'],
                      osp.join(work_dir, 'epoch_1.pth'), '--work-dir', work_dir)
    assert re.search(r'Epoch\(test\).*accuracy/top1: \d+\.\d+', succeeds(tested) + tested.stderr)


def test_mim_train_mmpretrain(installed, user_configs, tmp_path):
    work_dir = str(tmp_path / 'work')
    trained = user_run(installed, '-m', 'mim', 'train', 'mmpretrain', user_configs['classifier'], '--work-dir',
                       work_dir)
    assert 'Training finished successfully' in succeeds(trained)
    assert_se_checkpoint(osp.join(work_dir, 'epoch_1.pth'))


def test_mmdet_train_and_test_tools(installed, user_configs, tmp_path):
    work_dir = str(tmp_path / 'work')
    succeeds(user_run(installed, upstream_tool(installed, 'mmdet', 'train.py'), user_configs['detector'],
                      '--work-dir', work_dir))
    assert_se_checkpoint(osp.join(work_dir, 'epoch_1.pth'))
    tested = user_run(installed, upstream_tool(installed, 'mmdet', 'test.py'), user_configs['detector'],
                      osp.join(work_dir, 'epoch_1.pth'), '--work-dir', work_dir)
    assert re.search(r'Epoch\(test\).*coco/bbox_mAP: -?\d+\.\d+', succeeds(tested) + tested.stderr)


def test_a_notebook_reads_and_builds_such_a_config(installed, user_configs):
    """``Config.fromfile`` then ``MODELS.build``, the way a notebook does it, with no import of ours."""
    script = textwrap.dedent(f'''
        import sys
        from mmengine.config import Config
        from mmengine.registry import MODELS, init_default_scope
        cfg = Config.fromfile({user_configs['classifier']!r})
        init_default_scope(cfg.default_scope)
        model = MODELS.build(cfg.model)
        print(type(model.backbone).__module__, type(model.backbone).__name__)
    ''')
    assert succeeds(user_run(installed, '-c', script)).split()[-2:] == ['se_plugins.models.backbones.se_resnet',
                                                                        'SEResNet']
