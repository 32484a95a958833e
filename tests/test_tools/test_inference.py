"""tools/inference.py on generated images, with randomly initialised models saved as checkpoints."""
import os.path as osp

import cv2
import pytest
import torch
from mmengine.config import Config

from se_plugins.building import build_model
from se_plugins.datasets import DETECTION_CLASSES, make_coco_detection, make_places365
from se_plugins.datasets.places365 import CLASSES
from se_plugins.utils import MissingInputError

from helpers import REPO


def random_checkpoint(config: str, path, dataset_meta=None) -> str:
    cfg = Config.fromfile(config)
    model = build_model(cfg)
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=dataset_meta) if dataset_meta else {}), path)
    return str(path)


def test_places365_top5(tmp_path, capsys, run_tool):
    config = osp.join(REPO, 'configs', 'places365', 'se-resnet50_8xb32-scratch_places365.py')
    root = make_places365(str(tmp_path / 'data'), num_classes=2, train_per_class=1, val_per_class=1, image_size=64)
    image = osp.join(root, 'val_256', 'Places365_val_00000001.jpg')
    top = run_tool('inference.py', image, config, random_checkpoint(config, tmp_path / 'model.pth'))
    names = [name for name, _ in top]
    assert len(top) == 5 and set(names) <= set(CLASSES) and len(set(names)) == 5  # no dataset_meta: the config's
    scores = [score for _, score in top]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1
    printed = capsys.readouterr().out.splitlines()[-5:]
    assert printed == [f'{rank}  {score:.4f}  {name}' for rank, (name, score) in enumerate(top, 1)]


def test_detections_drawn_on_the_image(tmp_path, capsys, run_tool):
    config = osp.join(REPO, 'configs', 'faster_rcnn', 'faster-rcnn_se-r50_fpn_cpu-demo_shapes.py')
    root = make_coco_detection(str(tmp_path / 'coco'), num_train=1, num_val=1, image_size=96)
    image = osp.join(root, 'val2017', sorted(__import__('os').listdir(osp.join(root, 'val2017')))[0])
    checkpoint = random_checkpoint(config, tmp_path / 'detector.pth', dict(classes=DETECTION_CLASSES))
    result = run_tool('inference.py', image, config, checkpoint, '--out-dir', str(tmp_path / 'out'), '--score-thr', '0')
    drawn = cv2.imread(result['vis'])
    assert drawn is not None and drawn.shape == cv2.imread(image).shape
    assert osp.isfile(tmp_path / 'out' / 'preds' / (osp.splitext(osp.basename(image))[0] + '.json'))
    assert result['boxes'] and all(name in DETECTION_CLASSES and len(box) == 4 for name, _, *box in result['boxes'])
    assert capsys.readouterr().out.strip().endswith(f'{len(result["boxes"])} detections drawn on {result["vis"]}')


def test_a_missing_image_is_named(tmp_path, run_tool):
    config = osp.join(REPO, 'configs', 'places365', 'se-resnet50_8xb32-scratch_places365.py')
    with pytest.raises(MissingInputError, match=f'{tmp_path}/nowhere.jpg does not exist'):
        run_tool('inference.py', str(tmp_path / 'nowhere.jpg'), config, config)
