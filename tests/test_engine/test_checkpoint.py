"""Checkpoints survive kills: atomic writes, resume from the newest complete file, exact resume."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from se_plugins.datasets import make_places365
from se_plugins.engine import ResumeError, checkpoint_problem, resolve_resume

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'places365', 'se-resnet50_8xb32-scratch_places365.py')


def save(path, value=1.0):
    torch.save({'state_dict': {'w': torch.full((64, 64), value)}}, path)
    return str(path)


def truncate(path):
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


def test_checkpoint_problem(tmp_path):
    good = save(tmp_path / 'good.pth')
    assert checkpoint_problem(good) is None
    truncate(save(tmp_path / 'bad.pth'))
    assert 'truncated' in checkpoint_problem(str(tmp_path / 'bad.pth'))
    assert checkpoint_problem(str(tmp_path / 'missing.pth')) == 'no such file'


def test_resume_falls_back_to_the_newest_complete_checkpoint(tmp_path):
    older = save(tmp_path / 'epoch_1.pth', 1.0)
    time.sleep(0.01)
    newest = save(tmp_path / 'epoch_2.pth', 2.0)
    (tmp_path / 'last_checkpoint').write_text(newest)
    assert resolve_resume(str(tmp_path), 'auto') == newest
    truncate(newest)
    assert resolve_resume(str(tmp_path), 'auto') == older
    with pytest.raises(ResumeError, match='cannot resume from .*epoch_2.pth: not a complete PyTorch checkpoint'):
        resolve_resume(str(tmp_path), newest)
    truncate(older)
    with pytest.raises(ResumeError, match='no complete checkpoint to resume from'):
        resolve_resume(str(tmp_path), 'auto')
    assert resolve_resume(str(tmp_path / 'fresh'), 'auto') is None  # a first launch starts from scratch


@pytest.fixture(scope='module')
def places(tmp_path_factory):
    return make_places365(str(tmp_path_factory.mktemp('places')), num_classes=2, train_per_class=8,
                          val_per_class=1, image_size=64)


def train_command(data_root, work_dir, *extra):
    values = {'train_cfg.max_epochs': 3, 'train_cfg.val_interval': 10, 'randomness.seed': 0,
              'randomness.deterministic': True, 'train_dataloader.dataset.pipeline.1.scale': 56,
              'default_hooks.checkpoint.max_keep_ckpts': 2, 'default_hooks.logger.interval': 1}
    for split in ('train', 'val', 'test'):
        values.update({f'{split}_dataloader.dataset.data_root': data_root, f'{split}_dataloader.batch_size': 4,
                       f'{split}_dataloader.num_workers': 0, f'{split}_dataloader.persistent_workers': False})
    return [sys.executable, osp.join(REPO, 'tools', 'train.py'), CONFIG, '--work-dir', str(work_dir), *extra,
            '--cfg-options', *[f'{k}={v}' for k, v in values.items()]]


def weights(path):
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_run(places, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    straight = tmp_path / 'straight'
    subprocess.run(train_command(places, straight), check=True, capture_output=True, env=env, timeout=600)

    killed = tmp_path / 'killed'
    process = subprocess.Popen(train_command(places, killed), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 300
    while not (killed / 'epoch_1.pth').exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # into the second epoch
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / 'epoch_3.pth').exists(), 'the run finished before it was killed'

    resumed = subprocess.run(train_command(places, killed, '--resume'), capture_output=True, text=True,
                             env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'resumed epoch: ' in resumed.stdout or 'Load checkpoint from' in resumed.stdout
    expected, actual = weights(straight / 'epoch_3.pth'), weights(killed / 'epoch_3.pth')
    assert expected.keys() == actual.keys()
    different = [k for k in expected if not torch.equal(expected[k], actual[k])]
    assert not different, f'{len(different)} tensors differ, e.g. {different[:3]}'
    assert sorted(p.name for p in killed.glob('*.pth')) == ['epoch_2.pth', 'epoch_3.pth']  # max_keep_ckpts


@pytest.mark.slow
def test_a_truncated_last_checkpoint_is_skipped_on_resume(places, tmp_path):
    work_dir = tmp_path / 'work'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    command = train_command(places, work_dir)
    command[command.index('train_cfg.max_epochs=3')] = 'train_cfg.max_epochs=2'
    subprocess.run(command, check=True, capture_output=True, env=env, timeout=600)
    truncate(work_dir / 'epoch_2.pth')  # as a kill during a non-atomic write would leave it
    command[command.index('train_cfg.max_epochs=2')] = 'train_cfg.max_epochs=3'
    result = subprocess.run(command[:5] + ['--resume'] + command[5:], capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'epoch_2.pth: not a complete PyTorch checkpoint' in result.stdout + result.stderr
    assert checkpoint_problem(str(work_dir / 'epoch_3.pth')) is None


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        return dict(loss=(out - torch.stack(labels)).pow(2).mean()) if mode == 'loss' else out


class ToyDataset(Dataset):

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return dict(inputs=torch.full((2, ), float(index)), labels=torch.ones(1))


@pytest.mark.parametrize('hook', ['se_plugins.AtomicCheckpointHook', 'CheckpointHook'])
def test_a_failed_write_keeps_the_previous_checkpoint(hook, tmp_path):
    runner = Runner(
        model=ToyModel(), work_dir=str(tmp_path), experiment_name=f'toy_{hook}_{time.time()}',
        train_dataloader=dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=False),
                              batch_size=2, num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)), train_cfg=dict(by_epoch=True, max_epochs=3),
        default_hooks=dict(checkpoint=dict(type=hook, interval=1, max_keep_ckpts=1)))
    save_checkpoint = runner.save_checkpoint

    def disk_full_on_epoch_2(out_dir, filename, *args, **kwargs):
        if runner.epoch == 1:  # the second checkpoint: half a file, then the disk is full
            with open(osp.join(out_dir, filename), 'wb') as f:
                f.write(b'PK\x03\x04 half a checkpoint')
            raise OSError(28, 'No space left on device')
        return save_checkpoint(out_dir, filename, *args, **kwargs)

    runner.save_checkpoint = disk_full_on_epoch_2
    with pytest.raises(OSError, match='No space left'):
        runner.train()
    last = (tmp_path / 'last_checkpoint').read_text().strip()
    if hook == 'CheckpointHook':  # mmengine: the previous checkpoint is deleted first, then written in place
        assert not (tmp_path / 'epoch_1.pth').exists() and checkpoint_problem(last) is not None
        return
    assert last == str(tmp_path / 'epoch_1.pth') and checkpoint_problem(last) is None
    assert not (tmp_path / 'epoch_2.pth').exists()
    assert resolve_resume(str(tmp_path), 'auto') == last


@pytest.mark.slow
def test_cli_resume_from_a_bad_file_is_one_clear_error(places, tmp_path):
    bad = save(tmp_path / 'epoch_9.pth')
    truncate(bad)
    result = subprocess.run(train_command(places, tmp_path / 'work', '--resume', bad), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().endswith(f'error: cannot resume from {bad}: not a complete PyTorch checkpoint '
                                          '(truncated, or not a zip archive)')
    assert 'Traceback' not in result.stderr
