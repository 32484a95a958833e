"""Image lists held in columns: the same samples, labels, paths, lines and errors as reading the list line
by line into dicts; subsets; DataLoader workers; ImageNet beside mmpretrain's."""
import os.path as osp
import re
import shutil
from typing import List, Tuple

import numpy as np
import pytest
import torch
from mmpretrain.datasets import ImageNet as MMPretrainImageNet

import se_plugins.datasets.image_list as image_list_module
from se_plugins.building import in_scope
from se_plugins.datasets import ImageNet, Places365, make_imagenet, make_places365, read_image_list
from se_plugins.datasets.image_list import parse_list_line
from se_plugins.utils import InputError, MissingInputError

NUM_CLASSES = 365


def line_by_line(path: str, num_classes: int) -> List[Tuple[str, int, int]]:
    """The reading this replaces (se_plugins 0.1's Places365.load_data_list): one line at a time."""
    entries = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2:
                raise InputError(f'{path}:{lineno}: expected "<image path> <label>", got {line.rstrip()!r}')
            name, label = parts
            if not label.isdigit() or int(label) >= num_classes:
                raise InputError(f'{path}:{lineno}: label {label!r} is not a class index in [0, {num_classes})')
            entries.append((name, int(label), lineno))
    return entries


def columns(path: str, num_classes: int = NUM_CLASSES) -> List[Tuple[str, int, int]]:
    images = read_image_list(path, num_classes, lambda text, lineno: parse_list_line(text, lineno, path, num_classes))
    return [(images.path(i), int(images.labels[i]), images.line(i)) for i in range(len(images))]


def outcome(read, path: str):
    try:
        return read(path, NUM_CLASSES)
    except InputError as error:
        return f'{type(error).__name__}: {error}'


LISTS = {
    'regular': ''.join(f'/a/airfield/{i:08d}.jpg {i % 365}\n' for i in range(1, 500)),
    'no final newline': '/a/b/1.jpg 3\n/a/b/2.jpg 364',
    'blank lines': '\n/a/b/1.jpg 3\n\n   \n/a/b/2.jpg 7\n\n',
    'crlf, tabs, extra spaces': '/a/b/1.jpg 3\r\n\t/a/b/2.jpg\t7\n  /a/b/3.jpg   12  \n/a/b/4.jpg 0\n',
    'leading zeros': 'x.jpg 007\ny.jpg 0\n',
    'non-ascii path': 'caf\u00e9/b\u00e4r.jpg 5\nplain.jpg 6\n',
    'three words': 'a.jpg 1\nb.jpg 2 3\nc.jpg 4\n',
    'one word': 'a.jpg 1\nb.jpg\n',
    'label too large': 'a.jpg 1\nb.jpg 365\nc.jpg 0 0\n',
    'negative label': 'a.jpg -1\n',
    'label not a number': 'a.jpg 1\nb.jpg 1a\n',
    'label of ten digits': 'a.jpg 0000000001\nb.jpg 12345678901\n',
    'error after an odd line': 'a.jpg\t1\nb.jpg 999\n',
    'empty': '',
}


@pytest.mark.parametrize('chunk_bytes', [1 << 22, 7])  # one chunk; chunks shorter than a line
@pytest.mark.parametrize('name', LISTS)
def test_columns_read_what_line_by_line_reads(name, chunk_bytes, tmp_path, monkeypatch):
    monkeypatch.setattr(image_list_module, '_CHUNK_BYTES', chunk_bytes)
    path = tmp_path / 'list.txt'
    path.write_bytes(LISTS[name].encode())
    expected = outcome(line_by_line, str(path))
    assert outcome(columns, str(path)) == expected
    if name in ('regular', 'crlf, tabs, extra spaces', 'three words'):
        assert isinstance(expected, list) == (name != 'three words')  # the cases test what they say


def test_a_long_list_keeps_its_paths_and_a_few_bytes_an_entry(tmp_path):
    path = tmp_path / 'big.txt'
    lines = 200_000
    path.write_bytes(''.join(f'/a/abbey/{i:08d}.jpg {i % 365}\n' for i in range(lines)).encode())
    images = read_image_list(str(path), NUM_CLASSES, lambda text, lineno: pytest.fail(f'slow path: {text!r}'))
    assert len(images) == lines and images.path(123_456) == '/a/abbey/00123456.jpg'
    assert images.labels[123_456] == 123_456 % 365 and images.line(123_456) == 123_457 and images.line(-1) == lines
    assert images.lines is None  # no line skipped: entry i is line i + 1
    assert images.buffer.nbytes == len('/a/abbey/00000000.jpg') * lines  # the paths' bytes, nothing else
    assert images.labels.dtype == np.int16 and images.starts.base is images.ends.base  # one offsets array


@pytest.fixture(scope='module')
def places_root(module_tmp_path):
    return make_places365(str(module_tmp_path / 'places365'), num_classes=3, train_per_class=4,
                          val_per_class=2, image_size=16)


def test_places365_samples_are_those_of_the_list(places_root):
    dataset = Places365(places_root, split='train')
    expected = line_by_line(osp.join(places_root, 'places365_train_standard.txt'), NUM_CLASSES)
    assert len(dataset) == len(expected) == 12
    for index, (name, label, line) in enumerate(expected):
        info = dataset.get_data_info(index)
        assert info == dict(img_path=osp.join(places_root, 'data_256', name.lstrip('/')), gt_label=label,
                            list_line=line, sample_idx=index)
    assert dataset.get_data_info(-1)['sample_idx'] == 11
    assert dataset.get_gt_labels().tolist() == [label for _, label, _ in expected]
    assert dataset.get_cat_ids(5) == [expected[5][1]]
    assert dataset.metainfo['classes'][:2] == ('airfield', 'airplane_cabin') and len(dataset.metainfo['indoor']) == 365
    assert dataset.load_data_list() == [dataset.get_data_info(i) for i in range(12)]


@pytest.mark.parametrize('indices, expected', [(5, [0, 1, 2, 3, 4]), (-2, [10, 11]), ([7, 2, 2], [7, 2, 2])])
def test_places365_subsets(places_root, indices, expected):
    full = Places365(places_root, split='train')
    paths = [full.get_data_info(i)['img_path'] for i in range(len(full))]
    by_argument = Places365(places_root, split='train', indices=indices)
    copied = full.get_subset(indices)
    assert len(full) == 12  # get_subset leaves the dataset whole
    in_place = Places365(places_root, split='train', lazy_init=True)
    in_place.get_subset_(indices)
    for dataset in (by_argument, copied, in_place):
        assert [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))] == [paths[i] for i in expected]


def test_places365_serves_a_dataloader_with_workers(places_root):
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    with in_scope('mmpretrain'):
        dataset = Places365(places_root, split='train', pipeline=pipeline, test_mode=True)
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, num_workers=2,
                                         collate_fn=lambda batch: batch, persistent_workers=False)
    samples = [sample for batch in loader for sample in batch]
    assert [s['data_samples'].gt_label.item() for s in samples] == dataset.get_gt_labels().tolist()
    assert all(s['inputs'].shape == (3, 16, 16) for s in samples)
    assert [s['data_samples'].img_path for s in samples] == [dataset.get_data_info(i)['img_path'] for i in range(12)]


@pytest.fixture(scope='module')
def imagenet_root(module_tmp_path):
    return make_imagenet(str(module_tmp_path / 'imagenet'), num_classes=3, train_per_class=3,
                         val_per_class=2, image_size=16)


@pytest.mark.parametrize('split, with_list', [('train', True), ('val', True), ('train', False)])
def test_imagenet_has_the_samples_of_mmpretrains(imagenet_root, split, with_list, tmp_path):
    kwargs = dict(data_root=imagenet_root, split=split)
    if not with_list:  # no meta/train.txt: the class folders are scanned
        kwargs['data_root'] = str(tmp_path / 'no_meta')
        shutil.copytree(osp.join(imagenet_root, 'train'), osp.join(kwargs['data_root'], 'train'))
        kwargs['metainfo'] = dict(classes=('tench', 'goldfish', 'shark'))  # as many as the folders
    ours, theirs = ImageNet(**kwargs), MMPretrainImageNet(**kwargs)
    assert len(ours) == len(theirs) > 0
    for index in range(len(ours)):
        mine, reference = ours.get_data_info(index), theirs.get_data_info(index)
        assert (mine['img_path'], mine['gt_label']) == (reference['img_path'], reference['gt_label'])
        assert mine['list_line'] == (index + 1 if with_list else 0)
    assert ours.metainfo['classes'] == theirs.metainfo['classes']
    assert np.array_equal(ours.get_gt_labels(), theirs.get_gt_labels())


def test_imagenet_bad_input_names_the_file_and_line(imagenet_root, tmp_path):
    with pytest.raises(MissingInputError, match=r'ImageNet data_root /nowhere/imagenet is not a directory'):
        ImageNet(data_root='/nowhere/imagenet', split='train')
    with pytest.raises(MissingInputError, match=r'ImageNet list .*meta/nope\.txt does not exist'):
        ImageNet(data_root=imagenet_root, split='train', ann_file='meta/nope.txt')
    broken = tmp_path / 'broken.txt'
    broken.write_text('n00000000/n00000000_0.JPEG 0\nn00000000/n00000000_1.JPEG 1000\n')
    with pytest.raises(InputError, match=re.escape(f"{broken}:2: label '1000' is not a class index in [0, 1000)")):
        ImageNet(data_root=imagenet_root, split='train', ann_file=str(broken))
    missing = tmp_path / 'missing.txt'
    missing.write_text('n00000000/n00000000_0.JPEG 0\nn00000000/gone.JPEG 0\n')
    with in_scope('mmpretrain'):
        dataset = ImageNet(data_root=imagenet_root, split='train', ann_file=str(missing),
                           pipeline=[dict(type='LoadImageFromFile')])
    dataset[0]
    with pytest.raises(MissingInputError, match=re.escape(f'{missing}:2: image ') + '.*gone.JPEG does not exist'):
        dataset[1]
    with pytest.raises(InputError, match="for split='test' use mmpretrain's ImageNet"):
        ImageNet(data_root=imagenet_root, split='test')
