import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from se_plugins.building import build_dataset
from se_plugins.datasets import make_coco_detection, make_imagenet, make_places365

from helpers import REPO


@pytest.mark.parametrize('config, make, size', [
    ('places365/se-resnet50_8xb32-scratch_places365.py', make_places365, (224, 224)),
    ('imagenet/se-resnet50_8xb128-paper_in1k.py', make_imagenet, (224, 224)),
    ('faster_rcnn/faster-rcnn_se-r50_fpn_cpu-demo_shapes.py', make_coco_detection, (128, 128)),
])
def test_browse_draws_what_the_model_sees(config, make, size, tmp_path, capsys, run_tool):
    if make is make_coco_detection:
        root = make(str(tmp_path / 'data'), num_train=2, num_val=3, image_size=64) + '/'
        options = [f'val_dataloader.dataset.data_root={root}']
    else:
        root = make(str(tmp_path / 'data'), num_classes=2, train_per_class=1, val_per_class=2, image_size=32)
        options = [f'val_dataloader.dataset.data_root={root}']
    out = tmp_path / 'out'
    files = run_tool('analysis_tools/browse_dataset.py', osp.join(REPO, 'configs', config), '--split', 'val',
                     '--num', '3', '--out-dir', str(out), '--cfg-options', *options)
    assert len(files) == 3 and f'wrote 3 images to {out}' in capsys.readouterr().out
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    cfg.merge_from_dict(dict(arg.split('=', 1) for arg in options))
    dataset = build_dataset(cfg, 'val')
    for index, path in enumerate(files):
        drawn = cv2.imread(path)
        plain = dataset[index]['inputs'].permute(1, 2, 0).numpy()
        assert drawn.shape[:2] == size == plain.shape[:2]
        assert np.abs(drawn.astype(int) - plain).max() > 100  # a label or boxes drawn on the pixels
