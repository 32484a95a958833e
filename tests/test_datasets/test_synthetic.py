import filecmp
import os.path as osp

import cv2
from pycocotools.coco import COCO

from se_plugins.datasets import DETECTION_CLASSES, make_coco_detection, make_imagenet


def test_coco_detection_set_is_valid_coco(tmp_path):
    root = make_coco_detection(str(tmp_path / 'coco'), num_train=6, num_val=3, image_size=96)
    for split, count in (('train2017', 6), ('val2017', 3)):
        coco = COCO(osp.join(root, 'annotations', f'instances_{split}.json'))
        assert len(coco.getImgIds()) == count
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(DETECTION_CLASSES)
        for image in coco.loadImgs(coco.getImgIds()):
            pixels = cv2.imread(osp.join(root, split, image['file_name']))
            assert pixels.shape == (96, 96, 3)
            annotations = coco.loadAnns(coco.getAnnIds(imgIds=image['id']))
            assert 1 <= len(annotations) <= 3
            for ann in annotations:
                x, y, w, h = ann['bbox']
                assert 0 <= x and 0 <= y and x + w <= 96 and y + h <= 96 and w >= 96 // 5


def test_generators_are_deterministic(tmp_path):
    a = make_imagenet(str(tmp_path / 'a'), num_classes=2, train_per_class=1, val_per_class=1, seed=3)
    b = make_imagenet(str(tmp_path / 'b'), num_classes=2, train_per_class=1, val_per_class=1, seed=3)
    expected = 'n00000000/n00000000_0.JPEG 0\nn00000001/n00000001_0.JPEG 1\n'
    assert open(osp.join(a, 'meta', 'train.txt')).read() == expected
    assert filecmp.cmp(osp.join(a, 'val', 'ILSVRC2012_val_00000002.JPEG'),
                       osp.join(b, 'val', 'ILSVRC2012_val_00000002.JPEG'), shallow=False)
