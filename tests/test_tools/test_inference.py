"""tools/inference.py on generated images: an image, a folder, a glob; a config with its checkpoint or a model by
name with its public weights; batches; predictions as JSON, detections drawn; files that are not images skipped."""
import json
import os
import os.path as osp
import shutil

import cv2
import mmpretrain
import pytest
import torch
from mmengine.config import Config

from se_plugins.building import build_model
from se_plugins.datasets import DETECTION_CLASSES, make_coco_detection, make_places365
from se_plugins.datasets.places365 import CLASSES
from se_plugins.utils import InputError, MissingInputError

from helpers import REPO

PLACES = osp.join(REPO, 'configs', 'places365', 'se-resnet50_8xb32-scratch_places365.py')


def random_checkpoint(config: str, path, dataset_meta=None) -> str:
    cfg = Config.fromfile(config)
    model = build_model(cfg)
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=dataset_meta) if dataset_meta else {}), path)
    return str(path)


@pytest.fixture(scope='module')
def places(module_tmp_path) -> str:
    return make_places365(str(module_tmp_path / 'places'), num_classes=2, train_per_class=1, val_per_class=2,
                          image_size=64)


@pytest.fixture(scope='module')
def places_checkpoint(module_tmp_path) -> str:
    return random_checkpoint(PLACES, module_tmp_path / 'model.pth')


def test_one_image_prints_its_top5(places, places_checkpoint, tmp_path, capsys, run_tool):
    image = osp.join(places, 'val_256', 'Places365_val_00000001.jpg')
    prediction, = run_tool('inference.py', image, PLACES, places_checkpoint, '--out-dir', str(tmp_path))
    names = [entry['name'] for entry in prediction['topk']]
    assert len(names) == 5 and set(names) <= set(CLASSES) and len(set(names)) == 5  # no dataset_meta: the config's
    scores = [entry['score'] for entry in prediction['topk']]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1
    printed = capsys.readouterr().out.splitlines()[-6:]
    assert printed[:5] == [f'{rank}  {e["score"]:.4f}  {e["name"]}' for rank, e in enumerate(prediction['topk'], 1)]
    assert printed[5] == f'1 images predicted: {tmp_path}/predictions.json'


def test_a_folder_and_a_glob_in_batches_skip_what_is_not_an_image(places, places_checkpoint, tmp_path, capsys,
                                                                  run_tool):
    folder = shutil.copytree(osp.join(places, 'val_256'), tmp_path / 'scraped')
    (folder / 'not_an_image.jpg').write_text('<html>404</html>')  # what a scraped folder holds
    cv2.imwrite(str(folder / 'one_pixel_wide.png'), torch.zeros(8, 1, 3).byte().numpy())
    out = tmp_path / 'out'
    predictions = run_tool('inference.py', str(folder), PLACES, '--weights', places_checkpoint, '--out-dir',
                           str(out), '--batch-size', '3', '--topk', '2')
    written = json.loads((out / 'predictions.json').read_text())
    assert written['predictions'] == predictions
    good = sorted(str(folder / name) for name in os.listdir(folder) if name.startswith('Places365'))
    assert [p['image'] for p in predictions] == good and all(len(p['topk']) == 2 for p in predictions)
    assert sorted(written['unreadable']) == [str(folder / 'not_an_image.jpg'), str(folder / 'one_pixel_wide.png')]
    assert '2 files skipped, not images: ' in capsys.readouterr().out
    from_glob = run_tool('inference.py', str(folder / 'Places365_*.jpg'), PLACES, places_checkpoint, '--out-dir',
                         str(out))
    assert [p['image'] for p in from_glob] == good
    for a, b in zip(from_glob, predictions):  # one image at a time or three: the same scores
        assert [x['label'] for x in a['topk'][:2]] == [x['label'] for x in b['topk']]
        assert [x['score'] for x in a['topk'][:2]] == pytest.approx([x['score'] for x in b['topk']], rel=1e-4)


def test_a_folder_of_detections_is_drawn_and_written(tmp_path, run_tool):
    config = osp.join(REPO, 'configs', 'faster_rcnn', 'faster-rcnn_se-r50_fpn_cpu-demo_shapes.py')
    root = make_coco_detection(str(tmp_path / 'coco'), num_train=1, num_val=2, image_size=96)
    checkpoint = random_checkpoint(config, tmp_path / 'detector.pth', dict(classes=DETECTION_CLASSES))
    out = tmp_path / 'out'
    predictions = run_tool('inference.py', osp.join(root, 'val2017'), config, checkpoint, '--out-dir', str(out),
                           '--score-thr', '0', '--batch-size', '2')
    assert len(predictions) == 2
    for prediction in predictions:
        drawn = cv2.imread(str(out / 'vis' / osp.basename(prediction['image'])))
        assert drawn is not None and drawn.shape == cv2.imread(prediction['image']).shape
        assert prediction['detections'] and all(d['name'] in DETECTION_CLASSES and len(d['box']) == 4
                                                for d in prediction['detections'])


def test_a_model_by_name_predicts_with_its_public_weights(places, hub_caches, tmp_path, run_tool):
    hub_caches.place_timm_weights('seresnet50.a1_in1k')
    predictions = run_tool('inference.py', osp.join(places, 'val_256'), 'se-resnet50_8xb32_in1k', '--out-dir',
                           str(tmp_path), '--topk', '1')
    assert len(predictions) == 4  # 2 classes x 2 validation images
    assert all(p['topk'][0]['name'] in mmpretrain.datasets.ImageNet.METAINFO['classes'] for p in predictions)


def test_what_cannot_be_predicted_is_named(places, places_checkpoint, tmp_path, run_tool):
    with pytest.raises(MissingInputError, match=f'{tmp_path}/nowhere.jpg does not exist'):
        run_tool('inference.py', str(tmp_path / 'nowhere.jpg'), PLACES, places_checkpoint)
    with pytest.raises(MissingInputError, match='no image in'):
        run_tool('inference.py', str(tmp_path / '*.png'), PLACES, places_checkpoint)
    with pytest.raises(InputError, match='--device cuda: torch sees no CUDA device here'):
        run_tool('inference.py', places, PLACES, places_checkpoint, '--device', 'cuda')
    with pytest.raises(InputError, match='a config needs its weights'):
        run_tool('inference.py', places, PLACES)
    with pytest.raises(InputError, match="no se_plugins model is named 'se-resnet5'"):
        run_tool('inference.py', places, 'se-resnet5')
