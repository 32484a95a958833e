"""Config checks before anything is built: the paths a config names, misspelt top-level keys, --data-root."""
import os.path as osp

import pytest
from mmengine.config import Config

import se_plugins  # noqa: F401
from se_plugins.datasets import make_coco_detection
from se_plugins.engine import prepare_training
from se_plugins.engine.config_checks import (check_arguments, check_class_counts, check_paths, point_at_data,
                                             unread_top_level_keys)
from se_plugins.utils import InputError, MissingInputError

from helpers import CONFIGS, PLACES_CONFIG, REPO

COCO = osp.join(REPO, 'configs', 'faster_rcnn_se_r50_coco.py')


@pytest.fixture(scope='module')
def coco_root(module_tmp_path):
    return make_coco_detection(str(module_tmp_path / 'coco'), num_train=2, num_val=2, image_size=32)


@pytest.mark.parametrize('path', CONFIGS)
def test_our_configs_have_no_misspelt_top_level_key_and_state_their_datas_classes(path):
    cfg = Config.fromfile(osp.join(REPO, path))
    assert unread_top_level_keys(cfg) == []
    check_class_counts(cfg, ('train', 'val', 'test'))


def test_a_misspelt_top_level_key_is_named_with_the_key_it_means(tmp_path):
    config = tmp_path / 'typo.py'
    config.write_text(f"_base_ = {COCO!r}\ndefault_hook = dict(logger=dict(interval=2))\n"
                      "custom_hook = []\nmy_own_variable = 3\n")
    assert unread_top_level_keys(Config.fromfile(str(config))) == [
        "top-level key 'default_hook' is read by nothing; did you mean 'default_hooks'?",
        "top-level key 'custom_hook' is read by nothing; did you mean 'custom_hooks'?"]


def test_data_root_reaches_every_dataset_and_the_coco_evaluators(coco_root):
    cfg = Config.fromfile(COCO)
    point_at_data(cfg, coco_root)
    for split in ('train', 'val', 'test'):
        assert cfg[f'{split}_dataloader'].dataset.data_root == coco_root + '/'
    assert cfg.val_evaluator.ann_file == osp.join(coco_root, 'annotations', 'instances_val2017.json')
    assert cfg.test_evaluator.ann_file == cfg.val_evaluator.ann_file
    cfg.model.backbone.init_cfg = None
    check_paths(cfg, ('train', 'val'))  # everything it names exists now
    with pytest.raises(MissingInputError, match='--data-root /nowhere is not a directory'):
        point_at_data(cfg, '/nowhere')


@pytest.mark.parametrize('change, message', [
    ({}, 'train_dataloader.dataset.data_root data/coco/ is not a directory (set it with --data-root)'),
    ({'data': True, 'init_cfg': dict(type='Pretrained', checkpoint='checkpoints/mine.pth')},
     'model.backbone.init_cfg.checkpoint checkpoints/mine.pth: no such file'),
    ({'data': True, 'init_cfg': None, 'val_ann': 'x.json'},
     'val_dataloader.dataset.ann_file {root}x.json does not exist'),
    ({'data': True, 'init_cfg': None, 'load_from': 'nope.pth'}, 'load_from nope.pth: no such file'),
])
def test_the_first_missing_path_is_named_with_its_key(coco_root, change, message):
    cfg = Config.fromfile(COCO)
    if change.get('data'):
        point_at_data(cfg, coco_root)
    if 'init_cfg' in change:
        cfg.model.backbone.init_cfg = change['init_cfg']
    if 'val_ann' in change:
        cfg.val_dataloader.dataset.ann_file = change['val_ann']
    if 'load_from' in change:
        cfg.load_from = change['load_from']
    with pytest.raises(MissingInputError) as error:
        check_paths(cfg, ('train', 'val'))
    assert str(error.value) == message.format(root=coco_root + '/')


def test_only_the_splits_a_tool_uses_are_checked(coco_root):
    cfg = Config.fromfile(COCO)
    point_at_data(cfg, coco_root)
    cfg.model.backbone.init_cfg = None
    cfg.train_dataloader.dataset.data_root = '/no/train/data/here/'
    check_paths(cfg, ('test',))  # tools/test.py needs no training data
    with pytest.raises(MissingInputError, match='train_dataloader.dataset.data_root'):
        check_paths(cfg, ('train', 'val'))


@pytest.mark.parametrize('path', CONFIGS)
def test_every_argument_of_our_configs_is_taken(path):
    cfg = Config.fromfile(osp.join(REPO, path))
    prepare_training(cfg)  # as tools/train.py runs it: our loop, our hooks
    check_arguments(cfg, ('train', 'val', 'test'))


@pytest.mark.parametrize('config, key, message', [
    (PLACES_CONFIG, 'model.backbone.se_ratoi',
     "model.backbone: SEResNet has no argument 'se_ratoi'; did you mean 'se_ratio'?"),
    (PLACES_CONFIG, 'train_dataloader.batchsize',
     "train_dataloader: DataLoader has no argument 'batchsize'; did you mean 'batch_size'?"),
    (PLACES_CONFIG, 'train_cfg.max_epoch',
     "train_cfg: EpochBasedTrainLoop has no argument 'max_epoch'; did you mean 'max_epochs'?"),
    (PLACES_CONFIG, 'train_dataloader.dataset.max_bad_image',
     "train_dataloader.dataset: Places365 has no argument 'max_bad_image'; did you mean 'max_bad_images'?"),
    (COCO, 'optim_wrapper.optimizer.momentun', "optim_wrapper.optimizer: SGD has no argument 'momentun'; "
                                               "did you mean 'momentum'?"),
    (COCO, 'default_hooks.logger.intervall', "default_hooks.logger: LoggerHook has no argument 'intervall'; "
                                             "did you mean 'interval'?"),
    (COCO, 'model.rpn_head.loss_cls.use_sigmod', "model.rpn_head.loss_cls: CrossEntropyLoss has no argument "
                                                 "'use_sigmod'; did you mean 'use_sigmoid'?"),
    (COCO, 'val_cfg.fp17', "val_cfg: ValLoop has no argument 'fp17'; did you mean 'fp16'?"),
])
def test_an_argument_nothing_takes_is_named_with_its_key_and_the_closest_name(config, key, message):
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({key: 1})
    prepare_training(cfg)
    with pytest.raises(InputError) as error:
        check_arguments(cfg, ('train', 'val'))
    assert str(error.value) == message
    if key.startswith(('train', 'optim')):
        check_arguments(cfg, ('test',))  # tools/test.py builds none of these


@pytest.mark.parametrize('config, change, message', [
    (COCO, {'train_dataloader.dataset.type': 'CocoDatset'},
     "train_dataloader.dataset.type: 'CocoDatset' is not a dataset of scope 'mmdet'; did you mean 'CocoDataset'?"),
    (PLACES_CONFIG, {'train_dataloader.dataset.type': 'Places365'},
     "train_dataloader.dataset.type: 'Places365' is not a dataset of scope 'mmpretrain'; it is se_plugins's: "
     "write type='se_plugins.Places365'"),
    (COCO, {'train_dataloader.num_workers': None},
     'train_dataloader.persistent_workers=True needs train_dataloader.num_workers of at least 1, got 0; set '
     'num_workers or persistent_workers=False'),
    (COCO, {'train_dataloader.sampler': None},
     "train_dataloader: needs a 'sampler', e.g. sampler=dict(type='DefaultSampler', shuffle=True), which is missing"),
    (COCO, {'train_dataloader.batch_size': None},
     "train_dataloader: needs 'batch_size' for its batch_sampler (AspectRatioBatchSampler), which is missing"),
    (COCO, {'optim_wrapper.optimizer': None}, "optim_wrapper: OptimWrapper needs the argument 'optimizer', which is "
                                              'missing'),
    (COCO, {'model.backbone.depth': '50'}, "model.backbone.depth must be an integer, got '50'"),
    (COCO, {'model.data_preprocessor.std': None},
     'model.data_preprocessor: DetDataPreprocessor: mean and std should be both None or tuple'),
    # mmcv's ops, which no registry builds (a test-time NMS is otherwise first met after an epoch of training)
    (COCO, {'model.test_cfg.rcnn.nms.type': 'nsm'},
     "model.test_cfg.rcnn.nms.type: 'nsm' is not one of mmcv's NMS ops; did you mean 'nms'?"),
    (COCO, {'model.test_cfg.rpn.nms.iou_thr': 0.7},
     "model.test_cfg.rpn.nms: nms has no argument 'iou_thr'; did you mean 'iou_threshold'?"),
    (COCO, {'model.train_cfg.rpn_proposal.nms.iou_threshold': None},
     "model.train_cfg.rpn_proposal.nms: nms needs the argument 'iou_threshold', which is missing"),
    (COCO, {'model.roi_head.bbox_roi_extractor.roi_layer.type': 'RoiAlign'},
     "model.roi_head.bbox_roi_extractor.roi_layer.type: 'RoiAlign' is not one of mmcv's RoI ops; did you mean "
     "'RoIAlign'?"),
    (COCO, {'model.roi_head.bbox_roi_extractor.roi_layer.sampling': 0},
     "model.roi_head.bbox_roi_extractor.roi_layer: RoIAlign has no argument 'sampling'; did you mean "
     "'sampling_ratio'?"),
])
def test_what_a_run_needs_beyond_each_signature_is_named(config, change, message):
    """Beyond each part's signature: a type its scope does not have, what the Runner needs of a dataloader,
    a required argument given to the builder and not the class, what a constructor asserts, the mmcv ops a
    detector names."""
    cfg = Config.fromfile(config)
    prepare_training(cfg)
    for key, value in change.items():
        *path, name = key.split('.')
        holder = cfg
        for part in path:
            holder = holder[part]
        if value is None:
            del holder[name]
        else:
            holder[name] = value
    with pytest.raises(InputError) as error:
        check_arguments(cfg, ('train', 'val'))
    assert str(error.value) == message


PLUGIN_CONFIG = osp.join(REPO, 'configs', 'se_plugin', 'faster-rcnn_r50-se_fpn_1x_coco.py')


@pytest.mark.parametrize('change, message', [
    (dict(position='after_conv4'), "model.backbone.plugins[0].position: 'after_conv4' is not a plugin position; "
                                   "choose one of ['after_conv1', 'after_conv2', 'after_conv3']"),
    (dict(stages=(True, False)), 'model.backbone.plugins[0].stages: one bool per stage (4), got (True, False)'),
    (dict(where='x'), "model.backbone.plugins[0]: unknown key 'where'; a plugin has ['cfg', 'position', 'stages']"),
    (dict(cfg=dict(type='se_plugins.SEPlugin', ratoi=8)),
     "model.backbone.plugins[0].cfg: SEPlugin has no argument 'ratoi'; did you mean 'ratio'?"),
    (dict(cfg=dict(type='se_plugins.SEPlugin', ratio=512)),
     'model.backbone.plugins: SEPlugin on 256 channels with ratio 512 has 0 squeeze channels; use a smaller ratio'),
    (dict(cfg=dict(type='se_plugins.SEPlugin', ratio=128), position='after_conv2'),
     'model.backbone.plugins: SEPlugin on 64 channels with ratio 128 has 0 squeeze channels; use a smaller ratio'),
    ({'backbone.norm_cfg': dict(type='BN', require_grad=True)},
     "model.backbone: ResNet: _BatchNorm.__init__() got an unexpected keyword argument 'require_grad'"),
    ({'backbone.depth': 18}, 'model.backbone.plugins: ResNet-18 has basic blocks, which take no plugins in mmdet; '
                             'use depth 50, 101 or 152'),
    ({'backbone.type': 'se_plugins.SEResNet'},
     "model.backbone.plugins: SEResNet takes no plugins; mmdet's ResNet, ResNetV1d, ResNeXt, Res2Net and RegNet do "
     '(our SE backbones have SE built in: se_ratio, se_placement, se_stages)'),
])
def test_a_misconfigured_plugin_is_named_before_anything_is_built(change, message):
    cfg = Config.fromfile(PLUGIN_CONFIG)
    for key, value in change.items():
        if key.startswith('backbone.'):
            cfg.model.backbone[key.split('.')[1]] = value
        else:
            cfg.model.backbone.plugins[0][key] = value
    with pytest.raises(InputError) as error:
        check_arguments(cfg, ('train', 'val'))
    assert str(error.value) == message


def folder_of_folders(root, classes=('cat', 'dog', 'fox')):
    for name in classes:
        (root / name).mkdir(parents=True)
    return str(root)


@pytest.mark.parametrize('options, message', [
    ({'model.head.num_classes': 5, 'data_preprocessor.num_classes': 3},
     'the data has 3 classes (the class folders of {root}/ (train_dataloader.dataset)) but the model says '
     'model.head.num_classes=5; set model.head.num_classes=3 (e.g. --cfg-options model.head.num_classes=3)'),
    ({'model.head.num_classes': 2},  # the data preprocessor (mmpretrain's top-level one) says 365
     'the data has 3 classes (the class folders of {root}/ (train_dataloader.dataset)) but the model says '
     'model.head.num_classes=2, data_preprocessor.num_classes=365; set model.head.num_classes=3 '
     'data_preprocessor.num_classes=3 (e.g. --cfg-options model.head.num_classes=3 '
     'data_preprocessor.num_classes=3)'),
    ({'model.head.num_classes': 3, 'data_preprocessor.num_classes': 3},
     'val_evaluator.topk=(1, 5): top-5 accuracy needs at least 5 classes and the data has 3 (the class folders '
     'of {root}/ (train_dataloader.dataset)); set val_evaluator.topk=(1,)'),
    ({'model.head.num_classes': 3, 'data_preprocessor.num_classes': 3, 'val_evaluator.topk': (1, 3)}, None),
])
def test_the_number_of_classes_of_a_folder_of_class_folders_is_checked_against_the_model(options, message, tmp_path):
    root = folder_of_folders(tmp_path / 'images')
    cfg = Config.fromfile(PLACES_CONFIG)
    for split in ('train', 'val'):
        cfg[f'{split}_dataloader'].dataset = dict(type='CustomDataset', data_root=root + '/', data_prefix='',
                                                  ann_file='', pipeline=[])
    cfg.merge_from_dict(options)
    if message is None:
        check_class_counts(cfg, ('train', 'val'))
        return
    with pytest.raises(InputError) as error:
        check_class_counts(cfg, ('train', 'val'))
    assert str(error.value) == message.format(root=root)


def test_coco_classes_are_checked_against_every_detection_head():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mask_rcnn', 'mask-rcnn_se-r50_fpn_1x_coco.py'))
    cfg.merge_from_dict({'train_dataloader.dataset.metainfo': dict(classes=('square', 'circle')),
                         'model.roi_head.bbox_head.num_classes': 2})
    with pytest.raises(InputError, match=r'^the data has 2 classes \(train_dataloader.dataset.metainfo.classes\) '
                       r'but the model says model.roi_head.mask_head.num_classes=80; set '
                       r'model.roi_head.mask_head.num_classes=2 '):
        check_class_counts(cfg, ('train', ))


def test_an_imagenet_without_its_split_is_named_before_it_scans_train_and_val_as_classes(tmp_path):
    root = folder_of_folders(tmp_path / 'imagenet', classes=('train', 'val'))
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'imagenet', 'se-resnet50_8xb32_in1k.py'))
    point_at_data(cfg, root)
    (tmp_path / 'imagenet' / 'meta').mkdir()
    (tmp_path / 'imagenet' / 'meta' / 'val.txt').write_text('val/0.jpg 0\n')
    check_class_counts(cfg, ('val', ))  # its split names the list meta/val.txt: no folders are scanned
    del cfg.val_dataloader.dataset.split
    with pytest.raises(InputError) as error:
        check_class_counts(cfg, ('val', ))
    assert str(error.value) == (
        f'val_dataloader.dataset: se_plugins.ImageNet would read 3 class folders in {root}/ (meta, train, val) but has '
        '1000 classes; point data_prefix or split at the folder of class folders, or set '
        'val_dataloader.dataset.metainfo.classes')
