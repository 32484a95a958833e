"""The Slurm jobs of tests/test_tools/test_slurm.py, run on a real cluster (tests/slurm/cluster.sh: Debian's
slurm-wlm, one node, started for them and stopped after them), two CPU tasks a job, DataLoader workers on.

They take 3-4 minutes, most of it waiting: Slurm's shortest time limit is a minute, and iterations sleep
(tests/pacing.py) so that each event finds its job in the phase it is meant for. Under pytest-xdist they run in
the background from the start of the session (:func:`start_in_background`, called by the controller once the
workers have collected the module), while the workers run other tests; the module's tests, last in the session,
read what happened (:func:`results`). Run alone, the module runs them itself.
"""
import os
import os.path as osp
import pickle
import re
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

from helpers import PLACES_CONFIG, REPO, train_options

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


def start_cluster(folder: str) -> Cluster:
    started = subprocess.run(['bash', CLUSTER, 'start', folder], capture_output=True, text=True, timeout=900)
    assert started.returncode == 0, started.stderr[-3000:]
    env = dict(os.environ, SLURM_CONF=osp.join(folder, 'slurm.conf'), OMP_NUM_THREADS='1',
               PATH=osp.dirname(sys.executable) + os.pathsep + os.environ['PATH'],
               PYTHONPATH=osp.join(REPO, 'tests'))  # tests/pacing.py
    return Cluster(folder, env)


def stop_cluster(folder: str) -> None:
    subprocess.run(['bash', CLUSTER, 'stop', folder], capture_output=True, timeout=120)


def sbatch(cluster: Cluster, options: List[str], script: str, *args: str) -> str:
    return cluster.run('sbatch', '--parsable', '-n', '2', '-c', '1', *options, osp.join(REPO, 'tools', script),
                       *args).strip()


def run_jobs(folder: Path, places: str) -> dict:
    """Start a cluster in ``folder``, submit every scenario's job at once, act on each when its trigger shows,
    wait until all have ended, stop the cluster. Meanwhile: tools/slurm_train.sh from a login node (srun makes the
    allocation) and, once the uninterrupted job has its final checkpoint, tools/slurm_test.sh on it as an sbatch
    job. Returns the jobs' folder (``root``), the scenarios with what happened to them (``runs``), and the login
    node's and the test job's ends."""
    cluster = start_cluster(str(folder / 'slurm'))
    try:
        return _run_jobs(cluster, folder / 'jobs', places)
    finally:
        stop_cluster(cluster.folder)


def _run_jobs(cluster: Cluster, root: Path, places: str) -> dict:
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


# The background run's files, in the session's shared folder: its folder, and its result or its failure.
BACKGROUND = 'slurm_jobs'


def start_in_background(shared: Path, places: Callable[[], str]) -> threading.Thread:
    """Run :func:`run_jobs` in a thread of this process (the xdist controller: idle while the workers test), on the
    data ``places()`` gives; its result, or its failure's traceback, goes into ``shared``."""
    folder = shared / BACKGROUND
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'started').touch()

    def run() -> None:
        try:
            outcome = ('result', run_jobs(folder, places()))
        except BaseException:  # any failure goes to the tests that wait for the result
            outcome = ('failure', traceback.format_exc())
        written = folder / 'outcome.pickle.tmp'
        try:
            written.write_bytes(pickle.dumps(outcome))
            written.rename(folder / 'outcome.pickle')
        except OSError:  # the session ended first (no test read the jobs) and removed its folder
            pass

    thread = threading.Thread(target=run, name='slurm-jobs', daemon=True)
    thread.start()
    return thread


def results(shared: Path, places: Callable[[], str], timeout: float = 1500) -> dict:
    """:func:`run_jobs`' result: the background run's, waiting for it, or, when none was started (the module run
    without xdist), a run made here."""
    folder = shared / BACKGROUND
    if not (folder / 'started').exists():
        return run_jobs(folder, places())
    outcome = folder / 'outcome.pickle'
    deadline = time.time() + timeout
    while not outcome.exists():
        assert time.time() < deadline, f'the background Slurm jobs have not ended in {timeout} s'
        time.sleep(1)
    kind, value = pickle.loads(outcome.read_bytes())
    assert kind == 'result', f'the background Slurm jobs failed:\n{value}'
    return value
