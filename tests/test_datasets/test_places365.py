import os
import os.path as osp
import re
import shutil

import pytest
import torch

import se_plugins.datasets.places365 as places365_module
from se_plugins.building import in_scope
from se_plugins.datasets import Places365, make_places365
from se_plugins.datasets.places365 import CLASSES, INDOOR
from se_plugins.utils import InputError, MissingInputError

PACKAGE_DIR = osp.dirname(places365_module.__file__)
SHARED = osp.join(osp.dirname(__file__), '..', '..', '..', 'shared', 'data', 'places365')


@pytest.fixture(scope='module')
def data_root(module_tmp_path):
    return make_places365(str(module_tmp_path / 'places365'), num_classes=3, train_per_class=2,
                          val_per_class=1, image_size=16)


def test_metainfo_is_the_official_365_classes_in_order():
    assert len(CLASSES) == len(INDOOR) == 365
    assert CLASSES[:3] == ('airfield', 'airplane_cabin', 'airport_terminal')
    assert CLASSES[-1] == 'zen_garden' and 'apartment_building/outdoor' in CLASSES
    assert INDOOR[:3] == (False, True, True)  # airfield outdoor, airplane cabin and terminal indoor
    assert Places365.METAINFO['classes'] == CLASSES


@pytest.mark.skipif(not osp.isdir(SHARED), reason='needs ../shared/ beside the repository (CI has it)')
def test_bundled_lists_equal_the_shared_official_files():
    for name in ('categories_places365.txt', 'IO_places365.txt'):
        with open(osp.join(SHARED, name)) as official, open(osp.join(PACKAGE_DIR, name)) as bundled:
            assert bundled.read() == official.read(), name


def test_train_list_with_leading_slash(data_root):
    dataset = Places365(data_root, split='train')
    assert len(dataset) == 6
    item = dataset.get_data_info(0)
    assert item['img_path'] == osp.join(data_root, 'data_256', 'a', 'airfield', '00000001.jpg')
    assert osp.isfile(item['img_path']) and item['gt_label'] == 0
    assert [dataset.get_data_info(i)['gt_label'] for i in range(6)] == [0, 0, 1, 1, 2, 2]


def test_val_list(data_root):
    dataset = Places365(data_root, split='val')
    assert len(dataset) == 3
    assert dataset.get_data_info(2)['img_path'] == osp.join(data_root, 'val_256', 'Places365_val_00000003.jpg')


def _with_line(data_root, tmp_path, line):
    root = tmp_path / 'places'
    shutil.copytree(data_root, root)
    with open(root / 'places365_val.txt', 'a') as f:
        f.write(line + '\n')
    return str(root)


@pytest.mark.parametrize('line, message', [
    ('Places365_val_00000009.jpg 1 extra',
     'places365_val.txt:4: expected "<image path> <label>", got \'Places365_val_00000009.jpg 1 extra\''),
    ('Places365_val_00000009.jpg', 'places365_val.txt:4: expected "<image path> <label>"'),
    ('Places365_val_00000009.jpg x', "places365_val.txt:4: label 'x' is not a class index in [0, 365)"),
    ('Places365_val_00000009.jpg 365', "places365_val.txt:4: label '365' is not a class index in [0, 365)"),
])
def test_malformed_lines_name_the_file_and_line(data_root, tmp_path, line, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Places365(_with_line(data_root, tmp_path, line), split='val')


def test_bad_arguments(data_root, tmp_path):
    with pytest.raises(ValueError, match=re.escape("split='test' is not supported; choose one of "
                                                   "['train', 'train_challenge', 'val']")):
        Places365(data_root, split='test')
    with pytest.raises(FileNotFoundError, match='Places365 data_root .*nowhere is not a directory'):
        Places365(str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError, match='places365_train_challenge.txt does not exist'):
        Places365(data_root, split='train_challenge')


def test_a_different_category_list_is_refused(data_root, tmp_path):
    root = _with_line(data_root, tmp_path, '')
    with open(osp.join(root, 'categories_places365.txt'), 'w') as f:
        f.write('/b/bedroom 0\n')
    with pytest.raises(ValueError, match='categories_places365.txt differs from the official'):
        Places365(root, split='val')


def test_a_missing_or_undecodable_image_names_the_list_line(data_root, tmp_path):
    root = _with_line(data_root, tmp_path, '')
    with in_scope('mmpretrain'):
        dataset = Places365(root, split='val', pipeline=[dict(type='LoadImageFromFile')])
    missing, broken = dataset.get_data_info(1)['img_path'], dataset.get_data_info(2)['img_path']
    os.remove(missing)
    with open(broken, 'wb') as f:
        f.write(b'\xff\xd8 truncated')
    list_file = osp.join(root, 'places365_val.txt')
    with pytest.raises(MissingInputError, match=re.escape(f'{list_file}:2: image {missing} does not exist')):
        dataset[1]
    with pytest.raises(InputError, match=re.escape(f'{list_file}:3: image {broken} cannot be decoded')):
        dataset[2]
    assert dataset[0]['img'].shape == (16, 16, 3)


def _train_set_with_bad_images(data_root, tmp_path):
    """The 6-image training set (3 classes x 2) with image 2 missing and images 4, 5 undecodable."""
    root = _with_line(data_root, tmp_path, '')
    dataset = Places365(root, split='train')
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    os.remove(paths[1])
    for broken in paths[3:5]:
        with open(broken, 'wb') as f:
            f.write(b'\xff\xd8 truncated')
    return root, osp.join(root, 'places365_train_standard.txt'), paths


@pytest.mark.parametrize('workers', [0, 2])
def test_up_to_max_bad_images_are_skipped_across_workers(data_root, tmp_path, workers):
    root, list_file, paths = _train_set_with_bad_images(data_root, tmp_path)
    with in_scope('mmpretrain'):
        dataset = Places365(root, split='train', max_bad_images=3, test_mode=True,
                            pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')])
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=workers, collate_fn=lambda b: b)
    served = [sample['data_samples'].img_path for batch in loader for sample in batch]
    # each bad image is replaced by the next good one; every sample is an image that decodes
    assert served == [paths[0], paths[2], paths[2], paths[5], paths[5], paths[5]]
    met = dataset.bad_images()
    assert len(met) == 3 and f'{list_file}:2: image {paths[1]} does not exist' in met
    for i in (3, 4):  # the decoder's own words follow
        assert any(m.startswith(f'{list_file}:{i + 1}: image {paths[i]} cannot be decoded') for m in met)
    assert list(loader) and len(dataset.bad_images()) == 3  # a second epoch meets no new one


def test_one_bad_image_more_than_max_bad_images_stops_with_all_of_them(data_root, tmp_path):
    root, list_file, paths = _train_set_with_bad_images(data_root, tmp_path)
    with in_scope('mmpretrain'):
        dataset = Places365(root, split='train', max_bad_images=2, pipeline=[dict(type='LoadImageFromFile')])
    for index in (0, 1, 2):
        dataset[index]
    with pytest.raises(InputError, match=re.escape(
            f'3 bad images, more than max_bad_images=2: {list_file}:2: image {paths[1]} does not exist; '
            f'{list_file}:4: image {paths[3]} cannot be decoded')) as error:
        dataset[3]
    assert f'; {list_file}:5: image {paths[4]} cannot be decoded' in str(error.value)


def test_max_bad_images_must_be_a_count(data_root):
    with pytest.raises(InputError, match=re.escape("max_bad_images=-1 must be an integer >= 0")):
        Places365(data_root, split='val', max_bad_images=-1)


def test_the_hook_reports_the_bad_images_after_every_epoch(data_root, tmp_path):
    from types import SimpleNamespace

    from se_plugins.engine import BadImagesHook
    root, list_file, paths = _train_set_with_bad_images(data_root, tmp_path)
    with in_scope('mmpretrain'):
        dataset = Places365(root, split='train', max_bad_images=5, pipeline=[dict(type='LoadImageFromFile')])
    dataset[1]
    messages = []
    runner = SimpleNamespace(train_dataloader=SimpleNamespace(dataset=dataset), epoch=0,
                             logger=SimpleNamespace(info=messages.append))
    BadImagesHook().after_train_epoch(runner)
    assert messages == [f'epoch 1: 1 bad images skipped so far (max_bad_images=5)\n'
                        f'  {list_file}:2: image {paths[1]} does not exist']
