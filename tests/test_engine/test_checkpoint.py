"""Checkpoints survive kills: atomic writes, resume from the newest complete file, exact resume."""
import os
import os.path as osp
import random
import re
import resource
import shutil
import signal
import subprocess
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from se_plugins.building import build_model
from se_plugins.engine import ResumeError, checkpoint_problem, require_checkpoint_fit, resolve_resume
from se_plugins.utils import CheckpointWriteError, InputError

from helpers import (PLACES_CONFIG, REPO, TRAIN_ENV, ToyDataset, ToyModel, assert_same_weights, logged_iterations,
                     run_command_line, torchrun_command, train_command, trained_iterations)


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


@pytest.mark.slow
def test_five_kills_at_random_moments_then_resume_equals_an_uninterrupted_run(places, uninterrupted, tmp_path):
    """SIGKILL (no warning) at 5 moments drawn at random, one of them while a checkpoint is being
    written; each time the same command with --resume goes on from the newest complete checkpoint.

    A kill lands inside the iteration after the drawn one, counted over the whole run (3 epochs of 4
    iterations, a checkpoint after each epoch): the draws are in its first 8 iterations, so that a kill
    never meets a run that has already finished (an iteration here takes ~0.03 s)."""
    rng = random.Random(0)
    moments = [('iteration', after, rng.uniform(0, 0.02)) for after in sorted(rng.sample(range(1, 9), 4))]
    moments.insert(rng.randrange(len(moments) + 1), ('checkpoint write', None, 0.0))
    work_dir = tmp_path / 'work'
    killed_mid_write = False
    for number, (what, after, delay) in enumerate(moments):
        log = tmp_path / f'launch_{number}.log'
        with open(log, 'w') as out:
            process = subprocess.Popen(train_command(places, work_dir, '--resume'), stdout=out,
                                       stderr=subprocess.DEVNULL, env=TRAIN_ENV)
            deadline = time.time() + 300
            while process.poll() is None and time.time() < deadline:
                writing = list(work_dir.glob('.*.tmp')) if what == 'checkpoint write' else []
                if writing or (what == 'iteration' and trained_iterations(log) >= after):
                    time.sleep(delay)  # somewhere inside the next iteration
                    process.send_signal(signal.SIGKILL)
                    killed_mid_write |= bool(writing)
                    break
                time.sleep(0.001 if what == 'checkpoint write' else 0.005)
            process.wait(timeout=60)
        assert process.returncode == -signal.SIGKILL, f'launch {number} ended before its kill ({what})'
    assert killed_mid_write
    first_launch = (tmp_path / 'launch_0.log').read_text()
    assert f'--resume: no checkpoint in {work_dir} yet; starting from scratch' in first_launch
    assert 'Auto resumed from the latest checkpoint None' not in first_launch
    assert any('resumed epoch: 1, iter: 4' in (tmp_path / f'launch_{number}.log').read_text()
               for number in range(1, len(moments)))  # the kills let the run go on from a checkpoint
    resumed = subprocess.run(train_command(places, work_dir, '--resume'), capture_output=True, text=True,
                             env=TRAIN_ENV, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_weights(uninterrupted['epochs'], work_dir / 'epoch_3.pth')
    assert sorted(p.name for p in work_dir.glob('epoch_*.pth')) == ['epoch_2.pth', 'epoch_3.pth']  # max_keep_ckpts


@pytest.mark.slow
def test_a_truncated_last_checkpoint_is_skipped_on_resume(places, tmp_path):
    work_dir = tmp_path / 'work'
    command = train_command(places, work_dir)
    command[command.index('train_cfg.max_epochs=3')] = 'train_cfg.max_epochs=2'
    subprocess.run(command, check=True, capture_output=True, env=TRAIN_ENV, timeout=600)
    truncate(work_dir / 'epoch_2.pth')  # as a kill during a non-atomic write would leave it
    command[command.index('train_cfg.max_epochs=2')] = 'train_cfg.max_epochs=3'
    result = subprocess.run(command[:5] + ['--resume'] + command[5:], capture_output=True, text=True,
                            env=TRAIN_ENV, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'epoch_2.pth: not a complete PyTorch checkpoint' in result.stdout + result.stderr
    assert checkpoint_problem(str(work_dir / 'epoch_3.pth')) is None


@pytest.mark.parametrize('hook', ['se_plugins.AtomicCheckpointHook', 'CheckpointHook'])
def test_a_failed_write_keeps_the_previous_checkpoint(hook, tmp_path):
    runner = Runner(
        model=ToyModel(), work_dir=str(tmp_path), experiment_name=f'toy_{hook}_{time.time()}',
        train_dataloader=dict(dataset=ToyDataset(length=4, labels=True),
                              sampler=dict(type='DefaultSampler', shuffle=False), batch_size=2, num_workers=0),
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
    with pytest.raises(OSError, match='No space left') as error:
        runner.train()
    last = (tmp_path / 'last_checkpoint').read_text().strip()
    if hook == 'CheckpointHook':  # mmengine: the previous checkpoint is deleted first, then written in place
        assert not (tmp_path / 'epoch_1.pth').exists() and checkpoint_problem(last) is not None
        return
    assert last == str(tmp_path / 'epoch_1.pth') and checkpoint_problem(last) is None
    assert not (tmp_path / 'epoch_2.pth').exists()
    assert not list(tmp_path.glob('.*.tmp'))  # the half-written file is gone
    assert isinstance(error.value, CheckpointWriteError)
    assert str(error.value) == (f'cannot write checkpoint {tmp_path / "epoch_2.pth"}: No space left on device '
                                '[Errno 28]; the previous checkpoints and last_checkpoint are intact')
    assert resolve_resume(str(tmp_path), 'auto') == last


@pytest.mark.slow
def test_cli_resume_from_a_bad_file_is_one_clear_error(places, tmp_path, capfd):
    bad = save(tmp_path / 'epoch_9.pth')
    truncate(bad)
    capfd.readouterr()
    status = run_command_line('train.py', *train_command(places, tmp_path / 'work', '--resume', bad)[2:])
    stderr = capfd.readouterr().err
    assert status == 1
    assert stderr.strip().endswith(f'error: cannot resume from {bad}: not a complete PyTorch checkpoint '
                                   '(truncated, or not a zip archive)')
    assert 'Traceback' not in stderr


def _file_limit(size: int):
    """What a child runs first so that its files over ``size`` bytes fail to write (EFBIG) instead of killing
    it (SIGXFSZ)."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return limit


@pytest.mark.slow
def test_a_checkpoint_that_cannot_be_written_stops_the_run_with_one_line_and_resume_goes_on(places, tmp_path):
    work_dir = tmp_path / 'work'
    subprocess.run(train_command(places, work_dir, epochs=1), check=True, capture_output=True, env=TRAIN_ENV,
                   timeout=600)
    half_a_checkpoint = (work_dir / 'epoch_1.pth').stat().st_size // 2  # the logs stay below it
    full = subprocess.run(train_command(places, work_dir, '--resume', epochs=2), capture_output=True, text=True,
                          env=TRAIN_ENV, timeout=600, preexec_fn=_file_limit(half_a_checkpoint))
    assert full.returncode == 1
    assert full.stderr.strip().splitlines()[-1] == (
        f'error: cannot write checkpoint {work_dir / "epoch_2.pth"}: File too large [Errno 27]; '
        'the previous checkpoints and last_checkpoint are intact')
    assert 'Traceback' not in full.stderr
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'epoch_1.pth')
    assert checkpoint_problem(str(work_dir / 'epoch_1.pth')) is None and not list(work_dir.glob('.*.tmp'))
    resumed = subprocess.run(train_command(places, work_dir, '--resume', epochs=2), capture_output=True, text=True,
                             env=TRAIN_ENV, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'Load checkpoint from' in resumed.stdout and checkpoint_problem(str(work_dir / 'epoch_2.pth')) is None


@pytest.mark.slow
def test_when_a_rank_dies_the_run_ends_instead_of_hanging(places, tmp_path):
    command, env = torchrun_command(train_command(places, tmp_path / 'work', epochs=20))
    log = tmp_path / 'out.log'
    with open(log, 'w') as out:
        torchrun = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + 300
        while logged_iterations(log) < 2 and time.time() < deadline:
            time.sleep(0.02)
        workers = [int(p) for p in open(f'/proc/{torchrun.pid}/task/{torchrun.pid}/children').read().split()]
        assert len(workers) == 2, workers  # dist_train.sh execs torchrun, whose children are the ranks
        killed_at = time.time()
        os.kill(workers[1], signal.SIGKILL)
        torchrun.wait(timeout=120)
        seconds = time.time() - killed_at
    assert torchrun.returncode != 0
    assert 'ChildFailedError' in log.read_text() or 'failed' in log.read_text()
    print(f'torchrun ended {seconds:.1f} s after the kill')
    assert seconds < 60, seconds  # torchrun notices the dead worker and stops the other one


def narrow_classifier(depth: int = 18, classes: int = 365):
    cfg = Config.fromfile(PLACES_CONFIG)
    cfg.merge_from_dict({'model.backbone.depth': depth, 'model.backbone.stem_channels': 16,
                         'model.backbone.base_channels': 16, 'model.head.in_channels': 128 * (1 if depth < 50 else 4),
                         'model.head.num_classes': classes})
    return build_model(cfg)


def test_a_checkpoint_must_fit_entirely_and_for_fine_tuning_its_backbone_must(tmp_path):
    path = str(tmp_path / 'se-resnet18.pth')
    weights = narrow_classifier().state_dict()
    torch.save({'state_dict': weights}, path)
    total = len(weights)
    assert require_checkpoint_fit(narrow_classifier(), path, 'checkpoint') == (
        f'checkpoint {path}: loaded {total} of {total} tensors')
    deeper = narrow_classifier(depth=34).state_dict()
    missing = [name for name in deeper if name not in weights and not name.endswith('num_batches_tracked')]
    with pytest.raises(InputError) as error:
        require_checkpoint_fit(narrow_classifier(depth=34), path, 'checkpoint')
    assert str(error.value) == (
        f"checkpoint {path} does not fit the model of the config (ImageClassifier): {len(missing)} of the model's "
        f'{len(missing) + len([n for n in deeper if n in weights])} tensors missing '
        '(backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4). Its weights are for another '
        'network, depth or config')
    with pytest.raises(InputError, match=r'of other shapes \(e\.g\. head\.fc\.weight: checkpoint \(365, 128\), '
                                         r'model \(3, 128\)\)'):
        require_checkpoint_fit(narrow_classifier(classes=3), path, 'checkpoint')
    # fine-tuning on 3 classes: the head is left out, and said so
    assert require_checkpoint_fit(narrow_classifier(classes=3), path, 'load_from', fine_tune=True) == (
        f'load_from {path}: loaded {total - 2} of {total} tensors; skipped: head.fc (other shapes or not in the '
        'checkpoint)')
    with pytest.raises(InputError, match=rf'^load_from {path} does not fit the backbone of the model of the config '):
        require_checkpoint_fit(narrow_classifier(depth=34, classes=3), path, 'load_from', fine_tune=True)


@pytest.mark.slow
def test_testing_a_checkpoint_of_another_depth_is_one_error_before_any_evaluation(places, uninterrupted, tmp_path):
    """tools/test.py, run from a project folder outside the repository, with an SE-ResNet-18 checkpoint on the
    same config at depth 34: mmengine would evaluate with the missing blocks random."""
    project = tmp_path / 'project'
    project.mkdir()
    command = train_command(places, project / 'work', **{'model.backbone.depth': 34})
    command[1:3] = [osp.join(REPO, 'tools', 'test.py'), command[2], str(uninterrupted['epochs'])]
    result = subprocess.run(command, capture_output=True, text=True, env=TRAIN_ENV, cwd=project, timeout=300)
    assert result.returncode == 1 and 'Traceback' not in result.stderr, result.stderr[-3000:]
    assert re.fullmatch(rf'error: checkpoint {uninterrupted["epochs"]} does not fit the model of the config '
                        r"\(ImageClassifier\): \d+ of the model's \d+ tensors missing \(backbone\.layer1, .*\)\. "
                        'Its weights are for another network, depth or config', result.stderr.strip().splitlines()[-1])
    assert list(project.iterdir()) == []  # no work dir, no log


@pytest.mark.slow
def test_a_copied_work_dir_resumes_from_its_own_checkpoints(places, uninterrupted, tmp_path):
    """last_checkpoint names the original's file, which still exists: the copy resumes from its own file of that
    name, says so in one line, and writes nothing into the original."""
    original = uninterrupted['epochs'].parent
    copy = shutil.copytree(original, tmp_path / 'moved' / 'work')
    assert (copy / 'last_checkpoint').read_text() == str(original / 'epoch_3.pth')
    before = sorted(os.listdir(original))
    command = train_command(places, copy, '--resume')
    command[command.index('train_cfg.max_epochs=3')] = 'train_cfg.max_epochs=4'
    result = subprocess.run(command, capture_output=True, text=True, env=TRAIN_ENV, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (f'{copy}/last_checkpoint names {original}/epoch_3.pth, outside this work dir (copied or moved?); '
            f'resuming from its own epoch_3.pth: {copy}/epoch_3.pth') in result.stdout + result.stderr
    assert f'Load checkpoint from {copy}/epoch_3.pth' in result.stdout + result.stderr
    assert (copy / 'epoch_4.pth').is_file() and sorted(os.listdir(original)) == before
