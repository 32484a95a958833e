"""tools/slurm_train.sh and tools/slurm_test.sh on a real Slurm cluster (tests/slurm/cluster.sh: Debian's
slurm-wlm, one node, started for the jobs and stopped after them), two CPU tasks a job, DataLoader workers on.
The jobs (tests/slurm_jobs.py) run in the background from the session's start under xdist; these tests, last in
the session, check how they ended.

Every way a cluster ends a job is applied to a job of its own, all jobs running side by side: a signal to the
training step, to the batch shell, to both; a time limit with and without a warning signal; preemption by a
higher-priority partition; ``scontrol requeue``; a signal before training starts; a plain ``scancel``. Each
job (but the cancelled one) must end COMPLETED, after at least one requeue, with weights bit-identical to an
uninterrupted job's. Training iterations sleep (tests/pacing.py), so that the events find a run in the
phase they are meant for and the jobs leave the CPUs to each other.
"""
import os.path as osp
import re
import subprocess

import pytest

from helpers import REPO, assert_same_weights
from slurm_jobs import job_dir, results

pytestmark = [pytest.mark.slow, pytest.mark.last]


@pytest.fixture(scope='module')
def jobs(request, session_folder) -> dict:
    """How every job ended (tests/slurm_jobs.py): run in the background since the session started, or here."""
    return results(session_folder, lambda: request.getfixturevalue('places'))


def work_dir_of(jobs: dict, name: str):
    return job_dir(jobs['root'], jobs['runs'], name)


# What each event leaves in the job's output: Slurm's own notice, the training's stop, the batch script's answer.
EXPECTED = {
    'time limit': [r'CANCELLED AT \S+ DUE TO TIME LIMIT', r'training stopped \(status \d+, TimeLimit\)'],
    # slurmctld sends the warning at its first timer check after the start (it may send it up to a minute early),
    # which can come while the tasks still import: it stops the training, or kills the tasks before they handle
    # it (status 138), and the script requeues either way, naming the signal or, when the time limit's TERM
    # came before srun had ended the step (a CI run of 2026-12-07), the time limit
    'time limit with sbatch --signal=USR1@1': [
        r'stopped: SIGUSR1 |training stopped \(status 138, (signal|TimeLimit)\); requeueing'],
    'scancel --signal=USR1 to the step, mid-epoch': [r'stopped: SIGUSR1 after iteration [12] \(epoch 1, [12] of 2\)'],
    'scancel --signal=USR1 --full during validation': [
        r'slurm_train.sh: SIGUSR1', r'stopped: SIGUSR1 during the validation after iteration 2 \(epoch 1\)',
        r'validating epoch 1 \(iteration 2\) again'],
    'scancel --signal=USR1 --batch (as sbatch --signal=B:USR1) at a checkpoint': [
        r'slurm_train.sh: SIGUSR1', r'stopped: SIGUSR1 '],
    # the script passes its own SIGTERM on as SIGUSR1, which may reach training first (as in a plain scancel)
    'scontrol requeue': [r'DUE TO JOB REQUEUE', r'stopped: SIG(TERM|USR1) ', r'job \d+ is requeued by Slurm already'],
    'preemption': [r'STEP \d+\.0 ON localhost CANCELLED AT', r'stopped: SIG(TERM|USR1) ',
                   r'training stopped \(status 75, signal\); requeueing'],
    'scancel --signal=TERM at start-up': [r'training stopped \(status (143|75), signal\)'],
    'scancel --signal=USR1 while the Runner is built': [r'stopped: SIGUSR1 before the first iteration'],
}


@pytest.mark.parametrize('name', list(EXPECTED))
def test_each_way_a_cluster_ends_a_job_is_requeued_and_resumed_exactly(name, jobs):
    scenario = jobs['runs'][name]
    assert scenario.state == 'COMPLETED' and scenario.restarts >= 1, (scenario.state, scenario.stacks,
                                                                      scenario.output[-3000:])
    for pattern in EXPECTED[name]:
        assert re.search(pattern, scenario.output), (pattern, scenario.output[-5000:])
    assert 'Traceback' not in scenario.output, scenario.output[-5000:]
    assert_same_weights(work_dir_of(jobs, 'uninterrupted') / 'epoch_3.pth', work_dir_of(jobs, name) / 'epoch_3.pth')


def test_an_uninterrupted_job_trains_with_two_tasks_on_cpu_as_torchrun_does(jobs, uninterrupted):
    """--launcher slurm without CUDA: gloo, with the ranks and world size Slurm gives, to the same weights as
    two processes under torchrun."""
    scenario = jobs['runs']['uninterrupted']
    # never requeued, nothing stopped it, and the script did not ask for a requeue
    assert scenario.state == 'COMPLETED' and scenario.restarts == 0 and 'stopped:' not in scenario.output \
        and 'requeueing job' not in scenario.output, (scenario.controller_log, scenario.output[-3000:])
    assert "launcher = 'slurm'" in scenario.output and 'CPU processes (no GPU): 2' in scenario.output
    assert "'backend': 'gloo'" in scenario.output and 'Traceback' not in scenario.output
    assert_same_weights(uninterrupted['two_processes'], work_dir_of(jobs, 'uninterrupted') / 'epoch_3.pth')


def test_a_plain_scancel_stays_cancelled_with_a_checkpoint(jobs):
    """The scancel adds no requeue (a CI run saw Slurm requeue this job once before it, on its own)."""
    scenario = jobs['runs']['scancel']
    assert scenario.fired is not None, scenario.output[-3000:]
    assert scenario.state == 'CANCELLED' and scenario.restarts == scenario.restarts_when_fired, \
        (scenario.restarts_when_fired, scenario.restarts, scenario.controller_log, scenario.output[-3000:])
    assert re.search(r'job \d+ was cancelled \(\w+\); not requeued', scenario.output), scenario.output[-3000:]
    # scancel sends SIGTERM to the tasks and to the batch shell, which passes it on as SIGUSR1: whichever
    # reaches training first names the stop
    stopped = re.search(r'stopped: SIG(?:TERM|USR1) after iteration (\d+) \(epoch 1, \d of 2\); wrote (\S+);',
                        scenario.output)
    assert stopped, scenario.output[-3000:]
    work_dir = work_dir_of(jobs, 'scancel')
    checkpoint = str(work_dir / f'iter_{stopped.group(1)}.pth')
    assert (work_dir / 'last_checkpoint').read_text() == stopped.group(2) == checkpoint


def test_from_a_login_node_srun_makes_a_cpu_allocation(jobs):
    status, output = jobs['login']
    assert status == 0, output[-3000:]
    srun = r'srun -p main --job-name=login --ntasks=2 --cpus-per-task=1 --signal=USR1@60 '
    assert re.search(srun, output), output[:3000]
    assert '--gres' not in output.split('+ set +x')[0]
    assert_same_weights(work_dir_of(jobs, 'uninterrupted') / 'epoch_3.pth', jobs['root'] / 'login' / 'epoch_3.pth')


def test_a_two_task_test_job_evaluates_the_checkpoint(jobs):
    state, output = jobs['test']
    assert state == 'COMPLETED' and 'Traceback' not in output, output[-3000:]
    tested = re.findall(r'Epoch\(test\) \[\d+/\d+\] +accuracy/top1: (\S+)', output)
    validated = re.findall(r'Epoch\(val\) \[3\]\[4/4\] +accuracy/top1: (\S+)',
                           jobs['runs']['uninterrupted'].output)
    assert len(tested) == 1 and tested == validated, (tested, validated)


@pytest.mark.parametrize('env, layout', [
    ({}, '-p gpu --job-name=senet --ntasks=8 --cpus-per-task=5 --signal=USR1@90 --gres=gpu:8 --ntasks-per-node=8'),
    ({'GPUS': '16', 'GPUS_PER_NODE': '4', 'CPUS_PER_TASK': '10', 'SIGNAL': 'TERM@120'},
     '-p gpu --job-name=senet --ntasks=16 --cpus-per-task=10 --signal=TERM@120 --gres=gpu:4 --ntasks-per-node=4'),
])
def test_from_a_login_node_gpu_layouts(env, layout, tmp_path):
    """The GPU forms (no GPU here, so srun is a stand-in that records its arguments)."""
    fake = tmp_path / 'srun'
    fake.write_text(f'#!/usr/bin/env bash\necho "$@" > {tmp_path}/args\n')
    fake.chmod(0o755)
    environment = {'PATH': f'{tmp_path}:/usr/bin:/bin', **env}
    result = subprocess.run(['bash', osp.join(REPO, 'tools', 'slurm_train.sh'), 'gpu', 'senet', 'cfg.py', 'work'],
                            env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    args = (tmp_path / 'args').read_text().split()
    assert ' '.join(args[:args.index('--kill-on-bad-exit=1')]) == layout
    assert args[args.index('cfg.py'):] == ['cfg.py', '--work-dir=work', '--launcher', 'slurm', '--resume']
