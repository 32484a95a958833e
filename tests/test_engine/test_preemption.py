"""Stop signals end training with a checkpoint that resumes exactly: in every phase of a run, with DataLoader
workers, signalled as schedulers do it (every process of the run), one process or two."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from se_plugins.engine import checkpoint_problem

from helpers import (PLACES_CONFIG, REPO, TRAIN_ENV, assert_same_weights, logged_iterations, torchrun_command,
                     train_command)

pytestmark = pytest.mark.slow
RESUME = 'continue with the same command and --resume'


def test_a_signal_to_the_process_of_an_iteration_based_run_stops_it_with_a_checkpoint(places, uninterrupted,
                                                                                      tmp_path):
    """SIGUSR1 to the main process alone (``kill PID``), an iteration-based loop: mmengine resumes it itself."""
    work_dir, log = tmp_path / 'work', tmp_path / 'out.log'
    command = train_command(places, work_dir, config=str(uninterrupted['iteration_config']), epochs=None)
    with open(log, 'w') as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, text=True, env=TRAIN_ENV)
        deadline = time.time() + 300
        while logged_iterations(log) < 3 and time.time() < deadline:  # 7 of 10 to go (~0.03 s each)
            time.sleep(0.005)
        done = logged_iterations(log)
        process.send_signal(signal.SIGUSR1)
        _, stderr = process.communicate(timeout=300)
    assert process.returncode == 75 and 'Traceback' not in stderr, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    match = re.fullmatch(rf'stopped: SIGUSR1 after iteration (\d+); wrote (\S+); {RESUME}', last)
    assert match, stderr[-500:]
    iteration, checkpoint = int(match.group(1)), match.group(2)
    assert done <= iteration < 10 and checkpoint == str(work_dir / f'iter_{iteration}.pth')
    assert (work_dir / 'last_checkpoint').read_text() == checkpoint and checkpoint_problem(checkpoint) is None
    resumed = subprocess.run(command[:5] + ['--resume'] + command[5:], capture_output=True, text=True, env=TRAIN_ENV,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_weights(uninterrupted['iterations'], work_dir / 'iter_10.pth')


def launch(command, log, env, until, timeout: float = 300) -> subprocess.Popen:
    """Start ``command`` in a process group of its own, logging to ``log``; return once ``until(log)`` holds."""
    out = open(log, 'w')
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    out.close()
    deadline = time.time() + timeout
    while not until(log) and process.poll() is None and time.time() < deadline:
        time.sleep(0.001)
    assert process.poll() is None, f'the run ended before its signal: {log.read_text()[-3000:]}'
    return process


def shows(pattern: str):
    return lambda log: bool(re.search(pattern, log.read_text(errors='replace')))


def test_signals_to_every_process_with_workers_in_every_phase_then_resume_exactly(places, uninterrupted, tmp_path):
    """One run, stopped four times as a cluster stops jobs (a signal to the whole process group, DataLoader
    workers included: 2 a loader, persistent and not), each time in another phase, and resumed each time with
    the same command; it ends bit-identical to an uninterrupted run without workers or validation (the
    augmentation draws are the samples', not the workers')."""
    work_dir = tmp_path / 'work'
    config = tmp_path / 'paced.py'  # iterations sleep, so that a signal finds the phase it is meant for
    config.write_text(f"_base_ = {PLACES_CONFIG!r}\n"
                      "custom_imports = dict(imports=['se_plugins', 'pacing'], allow_failed_imports=False)\n"
                      "custom_hooks = [dict(type='se_plugins.FiniteLossHook'), dict(type='PaceHook', seconds=0.3)]\n")
    env = dict(TRAIN_ENV, PYTHONPATH=os.path.join(REPO, 'tests'))
    phases = [  # (the moment, the signal, persistent workers, what the run says)
        (shows(r'System environment:'), 'SIGTERM', True,
         rf'stopped: SIGTERM before the first iteration; nothing new to save; {RESUME}'),
        (shows(r'Epoch\(train\) +\[1\]\[2/4\]'), 'SIGUSR1', False,  # the log line and the check race: 2 or 3
         rf'stopped: SIGUSR1 after iteration ([23]) \(epoch 1, \1 of 4\); wrote \S+/iter_\1.pth; {RESUME}'),
        (shows(r'Epoch\(val\) +\[1\]\[2/8\]'), 'SIGINT', True,
         rf'stopped: SIGINT during the validation after iteration 4 \(epoch 1\); wrote \S+/iter_4.pth; {RESUME} '
         r'\(it validates that epoch first\)'),
        (lambda log: any(work_dir.glob('.epoch_2.pth.tmp')), 'SIGTERM', False,  # while a checkpoint is written
         rf'stopped: SIGTERM during the validation after iteration 8 \(epoch 2\); wrote \S+/iter_8.pth; {RESUME} '
         r'\(it validates that epoch first\)'),
    ]
    logs = []
    for number, (moment, name, persistent, said) in enumerate(phases):
        command = train_command(places, work_dir, '--resume', config=str(config), **{
            'train_cfg.val_interval': 1, 'val_dataloader.batch_size': 1, 'train_dataloader.num_workers': 2,
            'val_dataloader.num_workers': 2, 'train_dataloader.persistent_workers': persistent,
            'val_dataloader.persistent_workers': persistent})
        log = tmp_path / f'launch{number}.log'
        process = launch(command, log, env, moment)
        os.killpg(process.pid, getattr(signal, name))
        assert process.wait(timeout=300) == (130 if name == 'SIGINT' else 75), log.read_text()[-3000:]
        output = log.read_text()
        assert 'Traceback' not in output and 'killed by signal' not in output, output[-3000:]
        assert re.fullmatch(said, output.strip().splitlines()[-1]), output[-1000:]
        logs.append(output)
        if number == 0:
            assert not work_dir.exists()  # nothing to save, nothing left
    assert 'validating epoch 1 (iteration 4) again: a stop signal interrupted its validation' in logs[3]
    final = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert final.returncode == 0, final.stderr[-3000:]
    assert_same_weights(uninterrupted['epochs'], work_dir / 'epoch_3.pth')


def test_sigusr1_to_the_process_group_of_dist_train_stops_both_ranks_with_a_checkpoint(places, tmp_path):
    """``kill -USR1 -PGID`` on tools/dist_train.sh: torchrun starts each rank in a session of its own, so the ranks
    get the signal only from torchrun, which passes on SIGUSR1 as tools/misc/torchrun.py asks and waits for them:
    both stop after the same iteration with one checkpoint, none trains on after the launcher has ended (plain
    torchrun died of SIGUSR1 at once and the ranks trained on to the last epoch), and the launcher ends with one
    line and status 128 + SIGUSR1, no traceback."""
    work_dir = tmp_path / 'work'
    command, env = torchrun_command(train_command(places, work_dir, epochs=20))
    log = tmp_path / 'out.log'
    process = launch(command, log, env, lambda log: logged_iterations(log) >= 3)  # 2 iterations an epoch
    os.killpg(process.pid, signal.SIGUSR1)
    process.wait(timeout=300)
    training_on = [pid for pid in os.listdir('/proc')
                   if pid.isdigit() and _reads(f'/proc/{pid}/cmdline', str(work_dir))]
    for pid in training_on:  # not left running if this fails
        os.kill(int(pid), signal.SIGKILL)
    output = log.read_text()
    assert training_on == [], output[-3000:]
    assert process.returncode == 128 + signal.SIGUSR1 and 'Traceback' not in output, output[-3000:]
    assert output.strip().splitlines()[-1] == 'torchrun: SIGUSR1, passed on to every rank; it ended when they had'
    stopped = re.findall(r'stopped: SIGUSR1 after iteration (\d+) \(epoch \d+, \d of 2\); wrote (\S+);', output)
    assert len(stopped) == 2 and stopped[0] == stopped[1], output[-3000:]
    checkpoint = work_dir / f'iter_{stopped[0][0]}.pth'
    assert stopped[0][1] == str(checkpoint) and checkpoint_problem(str(checkpoint)) is None
    assert (work_dir / 'last_checkpoint').read_text() == str(checkpoint)


def _reads(path: str, text: str) -> bool:
    """Whether the file at ``path`` (a process's command line) holds ``text``; False if it is gone."""
    try:
        with open(path, 'rb') as file:
            return text.encode() in file.read()
    except OSError:
        return False


def test_two_processes_stop_after_the_same_iteration_and_resume_exactly(places, uninterrupted, tmp_path):
    """SIGTERM to every process of a 2-process run under torchrun, DataLoader workers included (2 a rank, started
    anew each epoch from the rank's fork server): both ranks stop after the same iteration, one checkpoint is
    written, and the resumed run ends as an uninterrupted one without workers."""
    work_dir, temporary = tmp_path / 'work', tmp_path / 'tmp'
    temporary.mkdir()
    workers = {'train_dataloader.num_workers': 2}
    command, env = torchrun_command(train_command(places, work_dir, **workers))
    log = tmp_path / 'out.log'
    env = dict(env, TMPDIR=str(temporary))
    process = launch(command, log, env, lambda log: logged_iterations(log) >= 3)  # 2 iterations an epoch
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=300)
    stopped = re.findall(r'stopped: SIGTERM after iteration (\d+) \(epoch \d, \d of 2\); wrote (\S+);', log.read_text())
    assert len(stopped) == 2 and stopped[0] == stopped[1], log.read_text()[-3000:]  # both ranks, the same place
    assert 'DataLoader worker' not in log.read_text(), log.read_text()[-3000:]  # none killed, none failed
    assert process.returncode == 128 + signal.SIGTERM and 'Traceback' not in log.read_text()  # tools/misc/torchrun.py
    assert sorted(p.name for p in work_dir.glob('iter_*.pth')) == [f'iter_{stopped[0][0]}.pth']
    command, env = torchrun_command(train_command(places, work_dir, '--resume', **workers))
    resumed = subprocess.run(command, capture_output=True, text=True, env=dict(env, TMPDIR=str(temporary)),
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_weights(uninterrupted['two_processes'], work_dir / 'epoch_3.pth')
    assert not list(temporary.glob('pymp-*'))  # multiprocessing's folders (the fork servers' sockets), removed


# A Runner built by mmengine's RUNNERS from a config, as a notebook or another project's script does it; the config
# names our Runner (runner_type), which mmengine's Runner.from_cfg would ignore.
BUILD_FROM_CONFIG = '''
import argparse
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
parser = argparse.ArgumentParser()
parser.add_argument('config')
parser.add_argument('work_dir')
parser.add_argument('--resume', action='store_true')
parser.add_argument('--cfg-options', nargs='+', action=DictAction)
args = parser.parse_args()
cfg = Config.fromfile(args.config)
cfg.merge_from_dict(args.cfg_options)
cfg.work_dir, cfg.resume = args.work_dir, args.resume
RUNNERS.build(cfg).train()
'''


@pytest.mark.parametrize('launcher', ["mmpretrain's tools/train.py", 'RUNNERS.build'])
def test_other_launchers_of_our_config_stop_on_sigterm_and_resume_exactly(launcher, places, uninterrupted, tmp_path):
    """The guarantees are in the config (our Runner, the PreemptionHook): mmpretrain's own train tool and a script
    that builds the Runner from the config stop on SIGTERM with a checkpoint and resume to the uninterrupted run's
    weights, bit for bit."""
    import mmpretrain
    work_dir, log = tmp_path / 'work', tmp_path / 'launch.log'
    options = train_command(places, work_dir)[train_command(places, work_dir).index('--cfg-options') + 1:]
    if launcher == 'RUNNERS.build':
        script = tmp_path / 'build.py'
        script.write_text(BUILD_FROM_CONFIG)
        start = [sys.executable, str(script), PLACES_CONFIG, str(work_dir)]
    else:
        tool = os.path.join(os.path.dirname(mmpretrain.__file__), '.mim', 'tools', 'train.py')
        start = [sys.executable, tool, PLACES_CONFIG, '--work-dir', str(work_dir)]

    def command(resume: bool) -> list:
        return [*start, *(['--resume'] if resume else []), '--cfg-options', *options]
    process = launch(command(False), log, TRAIN_ENV, shows(r'Epoch\(train\) +\[1\]\[2/4\]'))
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=300)
    output = log.read_text()
    stop = re.search(rf'SIGTERM after iteration (\d+) \(epoch 1, \1 of 4\); wrote (\S+); {RESUME}', output)
    assert stop and checkpoint_problem(stop.group(2)) is None, output[-3000:]
    resumed = subprocess.run(command(True), capture_output=True, text=True, env=TRAIN_ENV, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_weights(uninterrupted['epochs'], work_dir / 'epoch_3.pth')
