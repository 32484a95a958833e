"""Bad images in the user's own files, with datasets that are not ours (mmpretrain's CustomDataset in the own-data
recipe, mmdet's CocoDataset): not an image, a truncated JPEG, zero bytes, a 1x1 picture. By default the first met
ends the run in one line naming it; with max_bad_images they are skipped and counted; in training (DataLoader
workers on) and in testing."""
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest

from se_plugins.datasets import make_class_folders, make_coco_detection

from helpers import REPO, run_command_line

pytestmark = pytest.mark.slow
OWN_DATA = osp.join(REPO, 'configs', 'own_data', 'se-resnet50_ft_folders.py')
DEMO = osp.join(REPO, 'configs', 'faster_rcnn', 'faster-rcnn_se-r50_fpn_cpu-demo_shapes.py')


def spoil(folder, names, kinds=('html', 'truncated', 'empty', 'tiny')) -> list:
    """Replace images of ``folder`` by what a scraped data set holds, one of ``kinds`` each; return their paths."""
    paths = [osp.join(folder, name) for name in names]
    for path, kind in zip(paths, kinds):
        content = open(path, 'rb').read()
        if kind == 'tiny':
            cv2.imwrite(path, np.zeros((1, 1, 3), np.uint8))  # decodes: a 1x1 placeholder
            continue
        with open(path, 'wb') as f:
            f.write({'html': b'<html><body>404 Not Found</body></html>',  # not an image, named .jpg
                     'truncated': content[:len(content) // 2],  # a download cut in the middle
                     'empty': b''}[kind])
    return paths


def classification(tmp_path) -> tuple:
    root = make_class_folders(str(tmp_path / 'flowers'), train_per_class=4, val_per_class=2, image_size=48)
    bad = spoil(osp.join(root, 'train'), ['daisy/0001.jpg', 'rose/0002.jpg', 'tulip/0003.jpg', 'tulip/0004.jpg'])
    bad += spoil(osp.join(root, 'val'), ['tulip/0002.jpg'], kinds=('tiny', ))
    options = {'load_from': None, 'model.backbone.depth': 18, 'model.backbone.base_channels': 16,
               'model.backbone.stem_channels': 16, 'model.head.in_channels': 128, 'model.head.num_classes': 3,
               'data_preprocessor.num_classes': 3, 'train_cfg.max_epochs': 1,
               'train_dataloader.dataset.pipeline.1.scale': 32, 'val_dataloader.dataset.pipeline.1.scale': 36,
               'val_dataloader.dataset.pipeline.2.crop_size': 32, 'test_dataloader.dataset.pipeline.1.scale': 36,
               'test_dataloader.dataset.pipeline.2.crop_size': 32}
    for split in ('train', 'val', 'test'):
        options.update({f'{split}_dataloader.batch_size': 4, f'{split}_dataloader.num_workers': 2,
                        f'{split}_dataloader.persistent_workers': False})
    return OWN_DATA, root, bad, options, 'mmpretrain.CustomDataset'


def detection(tmp_path) -> tuple:
    root = make_coco_detection(str(tmp_path / 'shapes'), num_train=8, num_val=4, image_size=64)
    bad = spoil(osp.join(root, 'train2017'), ['000001.jpg', '000002.jpg', '000003.jpg', '000004.jpg'])
    bad += spoil(osp.join(root, 'val2017'), ['000002.jpg'], kinds=('empty', ))
    options = {'train_cfg.max_epochs': 1}
    for split in ('train', 'val', 'test'):  # mmdet's own CocoDataset, as a user's config names it
        options.update({f'{split}_dataloader.dataset.type': 'CocoDataset', f'{split}_dataloader.batch_size': 2,
                        f'{split}_dataloader.num_workers': 2, f'{split}_dataloader.persistent_workers': False})
    return DEMO, root, bad, options, 'mmdet.CocoDataset'


@pytest.mark.parametrize('task', [classification, detection])
def test_bad_images_stop_in_one_line_or_are_skipped_within_the_budget(task, tmp_path, monkeypatch, capfd):
    config, root, bad, values, dataset = task(tmp_path)
    monkeypatch.chdir(tmp_path)
    work_dir = tmp_path / 'work'

    def run(tool: str, *args: str, **more) -> tuple:
        options = ['--cfg-options', *[f'{k}={v}' for k, v in dict(values, **more).items()]]
        capfd.readouterr()
        status = run_command_line(tool, config, *args, '--data-root', root, '--work-dir', str(work_dir), *options)
        captured = capfd.readouterr()
        return status, captured.out + captured.err

    status, output = run('train.py')
    last = output.strip().splitlines()[-1]
    assert status == 1 and 'Traceback' not in output, output[-3000:]
    named = re.fullmatch(rf'error: {re.escape(dataset)} \S+: (sample|image id) \d+: image (\S+) (cannot be decoded'
                         r'.*|is 1 x 1 pixels, too small to be an image) \(to skip up to N such images, set '
                         r'max_bad_images=N in its dataset\)', last)
    assert named and named.group(2) in bad[:4], last
    assert not work_dir.exists()  # it stopped before its first iteration: nothing left

    budget = {'train_dataloader.dataset.max_bad_images': 4, 'val_dataloader.dataset.max_bad_images': 1}
    status, output = run('train.py', **budget)
    assert status == 0, output[-3000:]
    assert re.search(r'epoch 1: 4 bad images skipped so far \(max_bad_images=4\)', output)
    assert all(path in output for path in bad[:4])
    checkpoint = str(work_dir / 'epoch_1.pth')
    status, output = run('test.py', checkpoint, **{'test_dataloader.dataset.max_bad_images': 1})
    # counted by every worker, reported by the main process (a worker's own warning may not reach the console)
    assert status == 0 and 'test: 1 bad images skipped so far (max_bad_images=1)' in output, output[-3000:]
    assert bad[4] in output.split('test: 1 bad images skipped so far')[1]
    status, output = run('test.py', checkpoint)
    assert status == 1 and output.strip().splitlines()[-1].startswith(f'error: {dataset} ')
    assert bad[4] in output.strip().splitlines()[-1]
    assert os.listdir(work_dir)  # the trained run's files are still there
