"""The stack set-up installs: importable, versions in range, compiled ops on CPU, our scope registered."""
import glob
import importlib
import importlib.metadata
import os.path as osp
import re

import pytest
import torch
from mmengine.utils import digit_version

from helpers import REPO

PINNED = {'torch': 'torch', 'torchvision': 'torchvision', 'mmengine': 'onedl-mmengine', 'mmcv': 'onedl-mmcv',
          'mmdet': 'onedl-mmdetection', 'mmpretrain': 'onedl-mmpretrain', 'pycocotools': 'pycocotools',
          'timm': 'timm', 'pretrainedmodels': 'pretrainedmodels'}


def pins() -> dict:
    """The versions requirements/*.txt pin, by distribution."""
    pinned = {}
    for path in glob.glob(osp.join(REPO, 'requirements', '*.txt')):
        for line in open(path):
            if '==' in line and not line.startswith('#'):
                name, version = line.split('#')[0].strip().split('==')
                pinned[name] = version
    pinned['onedl-mmcv'] = re.search(r'^MMCV_VERSION=(\S+)', open(osp.join(REPO, 'tools', 'setup_env.sh')).read(),
                                     re.M).group(1)
    return pinned


@pytest.mark.parametrize('module', sorted(PINNED))
def test_the_set_up_installed_the_pinned_version(module):
    importlib.import_module(module)  # importable
    assert importlib.metadata.version(PINNED[module]).split('+')[0] == pins()[PINNED[module]]


def test_mmcv_version_accepted_by_mmpretrain():
    import mmcv
    import mmpretrain
    version = digit_version(mmcv.__version__)
    assert (digit_version(mmpretrain.mmcv_minimum_version) <= version <
            digit_version(mmpretrain.mmcv_maximum_version))


def test_mmcv_nms_runs_on_cpu():
    from mmcv.ops import nms
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]  # box 1 overlaps box 0 with IoU 0.68
    assert torch.allclose(dets[:, 4], torch.tensor([0.9, 0.7]))


def test_mmcv_roi_align_runs_on_cpu():
    from mmcv.ops import roi_align
    feature = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4)
    rois = torch.tensor([[0, 0, 0, 4, 4]], dtype=torch.float32)  # the whole map, one 1x1 bin
    # positional: output_size, spatial_scale, sampling_ratio, pool_mode, aligned
    out = roi_align(feature, rois, (1, 1), 1.0, 2, 'avg', False)
    # sampling points at (1, 1), (1, 3), (3, 1), (3, 3): bilinear values 5, 7, 13, 15 -> mean 10
    assert out.shape == (1, 1, 1, 1)
    assert out.item() == pytest.approx(10.0, abs=1e-5)


def test_se_plugins_scope_is_a_child_of_the_root_registries():
    from mmengine.registry import DATASETS, MODELS

    import se_plugins  # noqa: F401
    assert MODELS._children['se_plugins'].scope == 'se_plugins'
    assert 'se_plugins' in DATASETS._children
