"""Checkpoints survive kills: atomic writes, resume from the newest complete file, exact resume."""
import os
import os.path as osp
import random
import re
import resource
import signal
import subprocess
import sys
import time

import pytest
import torch
from mmengine.runner import Runner

from se_plugins.datasets import make_places365
from se_plugins.engine import ResumeError, checkpoint_problem, resolve_resume
from se_plugins.utils import CheckpointWriteError

from helpers import REPO, ToyDataset, ToyModel

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
def places(module_tmp_path):
    return make_places365(str(module_tmp_path / 'places'), num_classes=2, train_per_class=8,
                          val_per_class=1, image_size=64)


def train_command(data_root, work_dir, *extra, config=CONFIG, epochs=3):
    """tools/train.py on the generated Places365 (16 images, batch 4: 4 iterations an epoch), SE-ResNet-18
    at 56x56, deterministic, one log line per iteration."""
    values = {'train_cfg.max_epochs': epochs, 'train_cfg.val_interval': 10, 'randomness.seed': 0,
              'randomness.deterministic': True, 'train_dataloader.dataset.pipeline.1.scale': 56,
              'default_hooks.checkpoint.max_keep_ckpts': 2, 'default_hooks.logger.interval': 1,
              'model.backbone.depth': 18, 'model.head.in_channels': 512}
    if config != CONFIG:  # an iteration-based child config sets its own loop
        del values['train_cfg.max_epochs'], values['train_cfg.val_interval']
    for split in ('train', 'val', 'test'):
        values.update({f'{split}_dataloader.dataset.data_root': data_root, f'{split}_dataloader.batch_size': 4,
                       f'{split}_dataloader.num_workers': 0, f'{split}_dataloader.persistent_workers': False})
    return [sys.executable, osp.join(REPO, 'tools', 'train.py'), str(config), '--work-dir', str(work_dir), *extra,
            '--cfg-options', *[f'{k}={v}' for k, v in values.items()]]


def weights(path):
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


def assert_same_weights(expected_path, actual_path):
    expected, actual = weights(expected_path), weights(actual_path)
    assert expected.keys() == actual.keys()
    different = [k for k in expected if not torch.equal(expected[k], actual[k])]
    assert not different, f'{len(different)} tensors differ, e.g. {different[:3]}'


ENV = dict(os.environ, OMP_NUM_THREADS='1')
ITERATION_CONFIG = """_base_ = {config!r}
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=10, val_interval=100)
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=5))
"""


@pytest.fixture(scope='module')
def uninterrupted(places, module_tmp_path):
    """Final checkpoints of runs nobody stopped: 3 epochs; 10 iterations of an iteration-based loop."""
    root = module_tmp_path / 'uninterrupted'
    root.mkdir()
    iteration_config = root / 'iteration_based.py'
    iteration_config.write_text(ITERATION_CONFIG.format(config=CONFIG))
    subprocess.run(train_command(places, root / 'epochs'), check=True, capture_output=True, env=ENV, timeout=600)
    subprocess.run(train_command(places, root / 'iterations', config=iteration_config), check=True,
                   capture_output=True, env=ENV, timeout=600)
    return dict(epochs=root / 'epochs' / 'epoch_3.pth', iterations=root / 'iterations' / 'iter_10.pth',
                iteration_config=iteration_config)


def logged_iterations(log_file) -> int:
    """Training iterations the run has logged so far (one log line per iteration)."""
    text = log_file.read_text() if log_file.exists() else ''
    return len(re.findall(r'(Epoch|Iter)\(train\) +\[', text))


@pytest.mark.slow
@pytest.mark.parametrize('loop, name', [('epochs', 'SIGTERM'), ('iterations', 'SIGUSR1'), ('epochs', 'SIGINT')])
def test_a_signal_stops_after_the_iteration_with_a_checkpoint_that_resumes_exactly(
        loop, name, places, uninterrupted, tmp_path):
    work_dir = tmp_path / 'work'
    config = CONFIG if loop == 'epochs' else uninterrupted['iteration_config']
    log = tmp_path / 'out.log'
    with open(log, 'w') as out:
        process = subprocess.Popen(train_command(places, work_dir, config=config), stdout=out,
                                   stderr=subprocess.PIPE, text=True, env=ENV)
        deadline = time.time() + 300
        while logged_iterations(log) < 6 and time.time() < deadline:  # into the second epoch
            time.sleep(0.02)
        done = logged_iterations(log)
        process.send_signal(getattr(signal, name))
        _, stderr = process.communicate(timeout=300)
    assert process.returncode == (130 if name == 'SIGINT' else 75), stderr[-3000:]  # Ctrl-C: as shells report it
    assert 'Traceback' not in stderr
    last = stderr.strip().splitlines()[-1]
    match = re.fullmatch(rf'stopped: {name} after iteration (\d+)(?: \(epoch 2, (\d) of 4\))?; wrote (\S+); '
                         r'continue with the same command and --resume', last)
    assert match, last
    iteration, checkpoint = int(match.group(1)), match.group(3)
    assert done <= iteration < 10  # nothing logged before the signal was lost; the run had not ended
    assert checkpoint == str(work_dir / f'iter_{iteration}.pth')
    assert (work_dir / 'last_checkpoint').read_text() == checkpoint and checkpoint_problem(checkpoint) is None
    if loop == 'epochs':
        assert int(match.group(2)) == iteration - 4
    resumed = subprocess.run(train_command(places, work_dir, '--resume', config=config), capture_output=True,
                             text=True, env=ENV, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    final = work_dir / uninterrupted[loop].name
    assert_same_weights(uninterrupted[loop], final)


@pytest.mark.slow
def test_five_kills_at_random_moments_then_resume_equals_an_uninterrupted_run(places, uninterrupted, tmp_path):
    """SIGKILL (no warning) at 5 moments drawn at random, one of them while a checkpoint is being
    written; each time the same command with --resume goes on from the newest complete checkpoint."""
    rng = random.Random(0)
    moments = [('iteration', rng.randint(1, 4), rng.uniform(0, 0.3)) for _ in range(4)]
    moments.insert(rng.randrange(len(moments) + 1), ('checkpoint write', None, 0.0))
    work_dir = tmp_path / 'work'
    killed_mid_write = False
    for number, (what, after, delay) in enumerate(moments):
        log = tmp_path / f'launch_{number}.log'
        with open(log, 'w') as out:
            process = subprocess.Popen(train_command(places, work_dir, '--resume'), stdout=out,
                                       stderr=subprocess.DEVNULL, env=ENV)
            deadline = time.time() + 300
            while process.poll() is None and time.time() < deadline:
                writing = list(work_dir.glob('.*.tmp')) if what == 'checkpoint write' else []
                if writing or (what == 'iteration' and logged_iterations(log) >= after):
                    time.sleep(delay)  # somewhere inside the next iteration
                    process.send_signal(signal.SIGKILL)
                    killed_mid_write |= bool(writing)
                    break
                time.sleep(0.001 if what == 'checkpoint write' else 0.02)
            process.wait(timeout=60)
        assert process.returncode == -signal.SIGKILL, f'launch {number} ended before its kill ({what})'
    assert killed_mid_write
    first_launch = (tmp_path / 'launch_0.log').read_text()
    assert f'--resume: no checkpoint in {work_dir} yet; starting from scratch' in first_launch
    assert 'Auto resumed from the latest checkpoint None' not in first_launch
    resumed = subprocess.run(train_command(places, work_dir, '--resume'), capture_output=True, text=True,
                             env=ENV, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_weights(uninterrupted['epochs'], work_dir / 'epoch_3.pth')
    assert sorted(p.name for p in work_dir.glob('epoch_*.pth')) == ['epoch_2.pth', 'epoch_3.pth']  # max_keep_ckpts


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
def test_cli_resume_from_a_bad_file_is_one_clear_error(places, tmp_path):
    bad = save(tmp_path / 'epoch_9.pth')
    truncate(bad)
    result = subprocess.run(train_command(places, tmp_path / 'work', '--resume', bad), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().endswith(f'error: cannot resume from {bad}: not a complete PyTorch checkpoint '
                                          '(truncated, or not a zip archive)')
    assert 'Traceback' not in result.stderr


def _small_file_limit():  # in the child: files over 20 MB fail to write (EFBIG) instead of killing it
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20 << 20, 20 << 20))


@pytest.mark.slow
def test_a_checkpoint_that_cannot_be_written_stops_the_run_with_one_line_and_resume_goes_on(places, tmp_path):
    work_dir = tmp_path / 'work'
    subprocess.run(train_command(places, work_dir, epochs=1), check=True, capture_output=True, env=ENV, timeout=600)
    full = subprocess.run(train_command(places, work_dir, '--resume', epochs=2), capture_output=True, text=True,
                          env=ENV, timeout=600, preexec_fn=_small_file_limit)
    assert full.returncode == 1
    assert full.stderr.strip().splitlines()[-1] == (
        f'error: cannot write checkpoint {work_dir / "epoch_2.pth"}: File too large [Errno 27]; '
        'the previous checkpoints and last_checkpoint are intact')
    assert 'Traceback' not in full.stderr
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'epoch_1.pth')
    assert checkpoint_problem(str(work_dir / 'epoch_1.pth')) is None and not list(work_dir.glob('.*.tmp'))
    resumed = subprocess.run(train_command(places, work_dir, '--resume', epochs=2), capture_output=True, text=True,
                             env=ENV, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'Load checkpoint from' in resumed.stdout and checkpoint_problem(str(work_dir / 'epoch_2.pth')) is None


def distributed(command: list, port: int) -> tuple:
    """``train_command``'s run as 2 gloo processes under torchrun (tools/dist_train.sh)."""
    env = dict(ENV, PATH=osp.dirname(sys.executable) + os.pathsep + os.environ['PATH'], PORT=str(port))
    return ['bash', osp.join(REPO, 'tools', 'dist_train.sh'), command[2], '2', *command[3:]], env


@pytest.mark.slow
def test_two_processes_stop_after_the_same_iteration_and_resume_exactly(places, tmp_path):
    """SIGTERM to every process of a 2-process run (as Slurm signals every task): both ranks stop after
    the same iteration, one checkpoint is written, and the resumed run ends as an uninterrupted one."""
    straight, straight_env = distributed(train_command(places, tmp_path / 'straight'), 29541)
    subprocess.run(straight, check=True, capture_output=True, env=straight_env, timeout=600)
    work_dir = tmp_path / 'work'
    command, env = distributed(train_command(places, work_dir), 29542)
    log = tmp_path / 'out.log'
    with open(log, 'w') as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + 300
        while logged_iterations(log) < 3 and time.time() < deadline:  # 2 iterations an epoch: in epoch 2
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=300)
    stopped = re.findall(r'stopped: SIGTERM after iteration (\d+) \(epoch \d, \d of 2\); wrote (\S+);', log.read_text())
    assert len(stopped) == 2 and stopped[0] == stopped[1], log.read_text()[-3000:]  # both ranks, the same place
    assert sorted(p.name for p in work_dir.glob('iter_*.pth')) == [f'iter_{stopped[0][0]}.pth']
    command, env = distributed(train_command(places, work_dir, '--resume'), 29543)
    resumed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_weights(tmp_path / 'straight' / 'epoch_3.pth', work_dir / 'epoch_3.pth')


@pytest.mark.slow
def test_when_a_rank_dies_the_run_ends_instead_of_hanging(places, tmp_path):
    command, env = distributed(train_command(places, tmp_path / 'work', epochs=20), 29544)
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
