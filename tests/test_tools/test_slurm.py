"""tools/slurm_train.sh and tools/slurm_test.sh on a real Slurm cluster (tests/slurm/cluster.sh: Debian's
slurm-wlm, one node, started for this module and stopped after it), two CPU tasks a job, DataLoader workers on.

Every way a cluster ends a job is applied to a job of its own, all jobs running side by side: a signal to the
training step, to the batch shell, to both; a time limit with and without a warning signal; preemption by a
higher-priority partition; ``scontrol requeue``; a signal before training starts; a plain ``scancel``. Each
job (but the cancelled one) must end COMPLETED, after at least one requeue, with weights bit-identical to an
uninterrupted job's. Training iterations sleep (tests/pacing.py), so that the events find a run in the
phase they are meant for and the jobs leave the CPUs to each other.
"""
import os
import os.path as osp
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import pytest

from helpers import PLACES_CONFIG, REPO, assert_same_weights, train_options

pytestmark = [pytest.mark.slow, pytest.mark.first]

CLUSTER = osp.join(REPO, 'tests', 'slurm', 'cluster.sh')
# helpers.train_options' run (2 tasks x batch 4: 2 iterations an epoch; validation after each epoch, 4 iterations
# a task), with DataLoader workers and iterations that sleep `pace` seconds
CONFIG = f"""_base_ = {PLACES_CONFIG!r}
custom_imports = dict(imports=['se_plugins', 'pacing'], allow_failed_imports=False)
custom_hooks = [dict(type='se_plugins.FiniteLossHook'), dict(type='SyncBuffersHook'),
                dict(type='PaceHook', seconds={{pace}}, seconds_once_requeued={{pace_once_requeued}})]
"""
OPTIONS = {'train_cfg.val_interval': 1, 'val_dataloader.batch_size': 1, 'train_dataloader.num_workers': 2,
           'val_dataloader.num_workers': 2, 'test_dataloader.num_workers': 2,
           'train_dataloader.persistent_workers': True, 'val_dataloader.persistent_workers': True}
# A running job whose output has not grown for this long is stuck (its iterations print every few seconds):
# the Python stacks of its training processes and their DataLoader workers go into the failure report. A run
# once hung here in a validation, rank 0 in a collective and rank 1 silent, until gloo's 10-minute timeout.
STALL = 120
TERMINAL = ('COMPLETED', 'CANCELLED', 'FAILED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'PREEMPTED', 'DEADLINE')


@dataclass
class Scenario:
    """A training job and what the cluster does to it: ``action`` (a command; ``{job}`` is the job id) once
    ``trigger`` (a regular expression) appears in the job's output."""
    sbatch: List[str] = field(default_factory=list)
    pace: float = 1.0
    pace_once_requeued: Optional[float] = None  # the pace in later runs, if not `pace`
    trigger: Optional[str] = None
    action: List[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)  # train.py's --cfg-options beyond OPTIONS
    tasks_started: bool = False  # act only once the step's Python processes exist (Slurm signals only them)
    # the time limit (minutes) from the first requeue on: a run ending at its time limit is TIMEOUT even if
    # training finished (slurmctld checks limits every 30 s), and a resumed run on a busy machine may take a
    # minute (a CI run saw it)
    time_once_requeued: Optional[int] = None
    time_raised: bool = False
    job: str = ''
    fired: Optional[float] = None
    restarts_when_fired: int = 0  # Slurm may requeue a job on its own first (a batch launch that timed out)
    state: str = ''
    restarts: int = 0
    output: str = ''
    controller_log: str = ''  # slurmctld's lines about the job (why it was requeued, cancelled, ended)
    output_changed: float = field(default_factory=time.time)
    output_size: int = 0
    stacks: str = ''  # its processes' Python stacks, if it stalled (STALL)


def scenarios() -> dict:
    not_persistent = {'train_dataloader.persistent_workers': False, 'val_dataloader.persistent_workers': False}
    return {
        # the time limit's TERM, then KILL after KillWait=30 s: no warning signal. The first run cannot end
        # before slurmctld's time-limit check (60 s + up to 30 s late; 18 iterations x 6 s); the later runs
        # have 10 minutes
        'time limit': Scenario(sbatch=['--time=1'], pace=6.0, pace_once_requeued=0.0, time_once_requeued=10),
        'time limit with sbatch --signal=USR1@1': Scenario(
            sbatch=['--time=1', '--signal=USR1@1'], pace=2.5, time_once_requeued=10),
        'uninterrupted': Scenario(),
        'scancel --signal=USR1 to the step, mid-epoch': Scenario(
            trigger=r'Epoch\(train\) \[1\]\[1/2\]', action=['scancel', '--signal=USR1', '{job}'],
            options=not_persistent),
        'scancel --signal=USR1 --full during validation': Scenario(
            trigger=r'Epoch\(val\) \[1\]\[2/4\]', action=['scancel', '--signal=USR1', '--full', '{job}']),
        'scancel --signal=USR1 --batch (as sbatch --signal=B:USR1) at a checkpoint': Scenario(
            trigger=r'Saving checkpoint at 1 epochs', action=['scancel', '--signal=USR1', '--batch', '{job}'],
            options=not_persistent),
        'scontrol requeue': Scenario(trigger=r'Epoch\(train\) \[2\]\[1/2\]', action=['scontrol', 'requeue', '{job}']),
        'preemption': Scenario(
            sbatch=['-p', 'spot'], trigger=r'Epoch\(train\) \[2\]\[1/2\]',
            action=['sbatch', '-p', 'urgent', '-n', '1', '-o', '/dev/null', '--wrap', 'sleep 2']),
        # `+ srun` is printed before the step exists, and a signal to a job without a step is lost: Slurm
        # signals the step's processes, so the action waits for both tasks' Python (importing at that moment)
        'scancel --signal=TERM at start-up': Scenario(
            trigger=r'^\+ srun', action=['scancel', '--signal=TERM', '{job}'], tasks_started=True),
        'scancel --signal=USR1 while the Runner is built': Scenario(
            trigger=r'System environment:', action=['scancel', '--signal=USR1', '{job}']),
        'scancel': Scenario(trigger=r'Epoch\(train\) \[1\]\[1/2\]', action=['scancel', '{job}']),
    }


@dataclass
class Cluster:
    folder: str
    env: dict

    def run(self, *command: str, attempts: int = 1) -> str:
        """``command``'s output; it must succeed within ``attempts`` tries (a controller busy with a dozen jobs on
        2 cores may time out on a query: an `scontrol show job` once exited 1 in the polling loop)."""
        for _ in range(attempts):
            result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60)
            if result.returncode == 0:
                return result.stdout
            time.sleep(1)
        raise AssertionError((command, result.returncode, result.stdout[-2000:], result.stderr[-2000:]))

    def jobs(self) -> dict:
        """Every job's fields by job id, from one ``scontrol`` call (one a job took ~0.1 s each on a busy
        machine: a polling round over a dozen jobs was over a second late on its triggers)."""
        lines = self.run('scontrol', 'show', 'job', '--oneliner', attempts=3).splitlines()
        fields = [dict(re.findall(r'(\w+)=(\S*)', line)) for line in lines]
        return {job['JobId']: job for job in fields if 'JobId' in job}


@pytest.fixture(scope='module')
def cluster(module_tmp_path):
    folder = str(module_tmp_path / 'slurm')
    started = subprocess.run(['bash', CLUSTER, 'start', folder], capture_output=True, text=True, timeout=900)
    assert started.returncode == 0, started.stderr[-3000:]
    env = dict(os.environ, SLURM_CONF=osp.join(folder, 'slurm.conf'), OMP_NUM_THREADS='1',
               PATH=osp.dirname(sys.executable) + os.pathsep + os.environ['PATH'],
               PYTHONPATH=osp.join(REPO, 'tests'))  # tests/pacing.py
    yield Cluster(folder, env)
    subprocess.run(['bash', CLUSTER, 'stop', folder], capture_output=True, timeout=120)


def sbatch(cluster: Cluster, options: List[str], script: str, *args: str) -> str:
    return cluster.run('sbatch', '--parsable', '-n', '2', '-c', '1', *options, osp.join(REPO, 'tools', script),
                       *args).strip()


@pytest.fixture(scope='module')
def jobs(cluster, places, module_tmp_path):
    """Submit every scenario's job at once, act on each when its trigger shows, wait until all have ended.
    Meanwhile: tools/slurm_train.sh from a login node (srun makes the allocation) and, once the uninterrupted
    job has its final checkpoint, tools/slurm_test.sh on it as an sbatch job."""
    root = module_tmp_path / 'jobs'
    runs = scenarios()
    for number, (name, scenario) in enumerate(runs.items()):
        work_dir = job_dir(root, runs, name)
        work_dir.mkdir(parents=True)
        (work_dir / 'config.py').write_text(CONFIG.format(pace=scenario.pace,
                                                          pace_once_requeued=scenario.pace_once_requeued))
        scenario.job = sbatch(
            cluster, ['--requeue', '--open-mode=append', '-J', f'scenario{number}', '-o', str(work_dir / 'slurm.out'),
                      *scenario.sbatch], 'slurm_train.sh', 'main', f'scenario{number}', str(work_dir / 'config.py'),
            str(work_dir), *train_options(places, **{**OPTIONS, **scenario.options}))
    login = root / 'login'
    login.mkdir()
    (login / 'config.py').write_text(CONFIG.format(pace=1.0, pace_once_requeued=None))
    login_env = dict(cluster.env, GPUS='2', GPUS_PER_NODE='0', CPUS_PER_TASK='1', SIGNAL='USR1@60')
    with open(login / 'out.log', 'w') as log:
        from_login_node = subprocess.Popen(
            ['bash', osp.join(REPO, 'tools', 'slurm_train.sh'), 'main', 'login', str(login / 'config.py'), str(login),
             *train_options(places, **OPTIONS)], stdout=log, stderr=subprocess.STDOUT, env=login_env)
    reference = job_dir(root, runs, 'uninterrupted')
    test_job = None
    deadline = time.time() + 900
    pending = dict(runs)
    while time.time() < deadline:
        states = cluster.jobs()
        if not pending and test_job is not None and states[test_job]['JobState'] in TERMINAL:
            break
        for name, scenario in list(pending.items()):
            info = states[scenario.job]
            output = output_of(root, runs, name)
            if scenario.trigger and scenario.fired is None and re.search(scenario.trigger, output, re.M) \
                    and (not scenario.tasks_started or len(task_processes(root, runs, name)) == 2):
                scenario.restarts_when_fired = int(info.get('Restarts', 0))
                cluster.run(*[part.format(job=scenario.job) for part in scenario.action])
                scenario.fired = time.time()
                continue  # its state is read in the next round
            if scenario.time_once_requeued and not scenario.time_raised and int(info.get('Restarts', 0)) >= 1:
                cluster.run('scontrol', 'update', f'JobId={scenario.job}', f'TimeLimit={scenario.time_once_requeued}')
                scenario.time_raised = True
            if len(output) != scenario.output_size:
                scenario.output_size, scenario.output_changed = len(output), time.time()
            elif info.get('JobState') == 'RUNNING' and not scenario.stacks \
                    and time.time() - scenario.output_changed > STALL:
                scenario.stacks = python_stacks(task_processes(root, runs, name))
            if info.get('JobState') in TERMINAL:
                scenario.state, scenario.restarts = info['JobState'], int(info['Restarts'])
                del pending[name]
        if test_job is None and 'uninterrupted' not in pending and (reference / 'epoch_3.pth').exists():
            test_job = sbatch(cluster, ['-o', str(root / 'test.out')], 'slurm_test.sh', 'main', 'test',
                              str(reference / 'config.py'), str(reference / 'epoch_3.pth'),
                              *train_options(places, **OPTIONS),
                              '--work-dir', str(root / 'test'))
        time.sleep(0.2)
    assert not pending, (f'still running after 15 min: {sorted(pending)}',
                         [runs[name].stacks or python_stacks(task_processes(root, runs, name)) for name in pending])
    from_login_node.wait(timeout=300)
    controller_log = Path(cluster.folder, 'log', 'slurmctld.log').read_text(errors='replace').splitlines()
    for scenario_name, scenario in runs.items():  # with what was written after the state changed
        scenario.output = output_of(root, runs, scenario_name)
        scenario.controller_log = '\n'.join(line for line in controller_log
                                            if re.search(rf'JobId={scenario.job}\b', line))
    return dict(root=root, runs=runs, login=(from_login_node.returncode, (login / 'out.log').read_text()),
                test=(cluster.jobs()[test_job]['JobState'], (root / 'test.out').read_text()))


def job_dir(root, runs: dict, name: str):
    """A scenario's folder: its config, Slurm output and work dir."""
    return root / f'job{list(runs).index(name)}'


def output_of(root, runs: dict, name: str) -> str:
    path = job_dir(root, runs, name) / 'slurm.out'
    return path.read_text(errors='replace') if path.exists() else ''


def task_processes(root, runs: dict, name: str) -> List[str]:
    """The ids of the processes srun started for a scenario's training step: Slurm runs them as
    ``/path/to/python -u .../train.py CONFIG ...`` (srun's own command line starts with ``srun``)."""
    config = job_dir(root, runs, name) / 'config.py'
    pattern = f'^(\\S+/)?python -u \\S+/train\\.py {config} '
    found = subprocess.run(['pgrep', '-f', pattern], capture_output=True, text=True)
    return found.stdout.split()


def python_stacks(pids: List[str]) -> str:
    """``py-spy dump`` of each process and of its children (DataLoader workers). (Not gdb's native stacks: attaching
    gdb to a process with torch loaded takes long enough to hold up the other jobs' triggers.)"""
    children = [subprocess.run(['pgrep', '-P', pid], capture_output=True, text=True).stdout.split() for pid in pids]
    dumps = []
    for pid in pids + [child for group in children for child in group]:
        dumped = subprocess.run([osp.join(osp.dirname(sys.executable), 'py-spy'), 'dump', '--pid', pid],
                                capture_output=True, text=True, timeout=60)
        dumps.append(f'--- process {pid}\n{dumped.stdout}{dumped.stderr}')
    return '\n'.join(dumps) or 'no training processes found'


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
