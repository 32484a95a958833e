import json
import os.path as osp
import re
import shutil

import pytest
from mmdet.registry import DATASETS
from torch.utils.data import DataLoader

from se_plugins.building import in_scope
from se_plugins.datasets import DETECTION_CLASSES, CocoDataset, make_coco_detection
from se_plugins.utils import InputError, MissingInputError, input_error_message

VAL_JSON = 'annotations/instances_val2017.json'


@pytest.fixture(scope='module')
def coco_root(module_tmp_path):
    return make_coco_detection(str(module_tmp_path / 'coco'), num_train=2, num_val=3, image_size=32)


@pytest.fixture
def root(coco_root, tmp_path):
    """A copy of the generated set that a test may break."""
    return shutil.copytree(coco_root, tmp_path / 'coco')


def build(data_root, classes=DETECTION_CLASSES, test_mode=False) -> CocoDataset:
    """Build as a config does: from mmdet's registry, with mmdet's transforms."""
    with in_scope('mmdet'):
        return DATASETS.build(dict(
            type='se_plugins.CocoDataset', data_root=str(data_root), ann_file=VAL_JSON,
            data_prefix=dict(img='val2017/'), metainfo=dict(classes=classes), test_mode=test_mode,
            filter_cfg=None if test_mode else dict(filter_empty_gt=True),
            pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                      dict(type='PackDetInputs')]))


def edit_json(root, edit) -> None:
    path = osp.join(root, VAL_JSON)
    with open(path) as f:
        content = json.load(f)
    with open(path, 'w') as f:
        json.dump(edit(content), f)


def test_a_good_set_loads_and_matches_mmdet(coco_root):
    dataset = build(coco_root)
    assert isinstance(dataset, CocoDataset) and len(dataset) == 3
    assert dataset.metainfo['classes'] == DETECTION_CLASSES
    item = dataset[0]
    assert tuple(item['inputs'].shape) == (3, 32, 32) and len(item['data_samples'].gt_instances) >= 1


def test_missing_data_root(tmp_path):
    with pytest.raises(MissingInputError, match=re.escape(f'COCO data_root {tmp_path}/nowhere is not a directory')):
        build(tmp_path / 'nowhere')


def test_missing_annotation_file(root):
    path = osp.join(root, VAL_JSON)
    shutil.move(path, path + '.moved')
    with pytest.raises(MissingInputError, match=re.escape(f'COCO annotation file {path} does not exist')):
        build(root)


def test_malformed_json_names_the_file_line_and_column(root):
    path = osp.join(root, VAL_JSON)
    with open(path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write('{\n  "images": [' + text[:40])  # cut short
    with pytest.raises(InputError, match=re.escape(path) + r': not valid JSON: .* \(line 2, column \d+\)'):
        build(root)
    with open(path) as f:
        assert f.read().startswith('{\n  "images": [')  # nothing rewritten


def test_a_top_level_that_is_not_an_object(root):
    edit_json(root, lambda content: [content])
    with pytest.raises(InputError, match='instances_val2017.json: annotation file format .* not supported'):
        build(root)


def test_a_missing_key(root):
    edit_json(root, lambda content: {k: v for k, v in content.items() if k != 'categories'})
    with pytest.raises(InputError, match="instances_val2017.json: a COCO annotation file needs the key 'categories'"):
        build(root)


@pytest.mark.parametrize('classes, missing', [
    (('cat', 'dog'), "['cat', 'dog']"),  # mmdet: "need at least one array to concatenate"
    (('square', 'dog', 'triangle'), "['dog']"),  # mmdet: 'triangle' silently becomes label 1
])
def test_classes_that_are_not_categories_of_the_file(coco_root, classes, missing):
    with pytest.raises(InputError, match=re.escape(
            f'instances_val2017.json: classes {missing} of the config are not categories of this file; '
            "its categories are ['square', 'circle', 'triangle']")):
        build(coco_root, classes=classes)


@pytest.mark.parametrize('test_mode, what', [(True, 'listed'), (False, "with an annotation of the config's classes")])
def test_no_image_left(root, test_mode, what):
    edit_json(root, lambda content: dict(content, images=[], annotations=[]))
    with pytest.raises(InputError, match=re.escape(f'instances_val2017.json: no image {what}')):
        build(root, test_mode=test_mode)


def image_of(dataset, index):
    info = dataset.get_data_info(index)
    return info['img_id'], info['img_path']


def test_a_missing_image_names_the_image_id(root):
    dataset = build(root)
    img_id, path = image_of(dataset, 1)
    shutil.move(path, path + '.moved')
    with pytest.raises(MissingInputError, match=re.escape(f'instances_val2017.json: image id {img_id}: '
                                                          f'image {path} does not exist')):
        dataset[1]


def test_an_undecodable_image_names_the_image_id(root):
    dataset = build(root, test_mode=True)
    img_id, path = image_of(dataset, 2)
    with open(path, 'wb') as f:
        f.write(b'not a jpeg')
    with pytest.raises(InputError, match=re.escape(f'image id {img_id}: image {path} cannot be decoded')):
        dataset[2]


def test_the_message_survives_a_dataloader_worker(root):
    dataset = build(root, test_mode=True)
    img_id, path = image_of(dataset, 0)
    shutil.move(path, path + '.moved')
    loader = DataLoader(dataset, batch_size=1, num_workers=1, collate_fn=lambda batch: batch)
    with pytest.raises(MissingInputError) as caught:
        next(iter(loader))
    assert 'DataLoader worker' in str(caught.value)
    assert input_error_message(caught.value) == (f'{osp.join(root, VAL_JSON)}: image id {img_id}: '
                                                 f'image {path} does not exist')
