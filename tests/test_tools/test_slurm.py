"""tools/slurm_train.sh with stand-ins for srun and scontrol: the warning signal is asked for, every launch
resumes, and a preempted run (status 75) requeues the job."""
import os.path as osp
import subprocess

import pytest

from helpers import REPO


@pytest.fixture
def slurm(tmp_path):
    """``slurm(status, **env)``: run slurm_train.sh where srun ends with ``status``; return its exit
    status, srun's arguments and scontrol's (None if not called)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for tool, body in (('srun', 'echo "$@" > "$CALLS/srun"; exit "$SRUN_STATUS"'),
                       ('scontrol', 'echo "$@" > "$CALLS/scontrol"')):
        (bin_dir / tool).write_text(f'#!/usr/bin/env bash\n{body}\n')
        (bin_dir / tool).chmod(0o755)

    def run(status: int, **env):
        environment = {'PATH': f'{bin_dir}:/usr/bin:/bin', 'CALLS': str(tmp_path), 'SRUN_STATUS': str(status),
                       'SLURM_JOB_ID': '4242', **env}
        result = subprocess.run(['bash', osp.join(REPO, 'tools', 'slurm_train.sh'), 'gpu', 'senet', 'cfg.py',
                                 'work_dirs/x', '--auto-scale-lr'], env=environment, capture_output=True, text=True)
        calls = {tool: (tmp_path / tool).read_text().split() if (tmp_path / tool).exists() else None
                 for tool in ('srun', 'scontrol')}
        return result.returncode, calls['srun'], calls['scontrol']
    return run


def test_every_task_gets_the_warning_signal_and_every_launch_resumes(slurm):
    status, srun, scontrol = slurm(0)
    assert status == 0 and scontrol is None
    assert '--signal=USR1@90' in srun and '--kill-on-bad-exit=1' in srun
    assert srun[srun.index('cfg.py'):] == ['cfg.py', '--work-dir=work_dirs/x', '--launcher', 'slurm', '--resume',
                                           '--auto-scale-lr']


def test_a_preempted_run_requeues_the_job(slurm):
    status, _, scontrol = slurm(75)
    assert status == 75 and scontrol == ['requeue', '4242']


@pytest.mark.parametrize('status, env', [(1, {}), (75, {'REQUEUE': '0'}), (75, {'SLURM_JOB_ID': ''})])
def test_failures_and_runs_outside_a_job_are_not_requeued(slurm, status, env):
    code, _, scontrol = slurm(status, **env)
    assert code == status and scontrol is None


def test_the_signal_can_be_chosen(slurm):
    _, srun, _ = slurm(0, SIGNAL='TERM@120')
    assert '--signal=TERM@120' in srun
