"""tools/setup_env.sh --dry-run on machines faked with stand-ins for nvidia-smi and nvcc: the plan builds
mmcv's CUDA ops for the GPUs it sees, and a driver or toolkit that cannot work ends in one error line."""
import os.path as osp
import stat
import subprocess
import sys

import pytest

from helpers import REPO

SYSTEM_PATH = '/usr/bin:/bin'  # bash, coreutils, sed, sort; no nvidia-smi, no nvcc
A100_H100 = ['NVIDIA A100-SXM4-80GB, {driver}, 8.0', 'NVIDIA A100-SXM4-80GB, {driver}, 8.0',
             'NVIDIA H100 80GB HBM3, {driver}, 9.0']


def executable(path, text: str) -> None:
    path.write_text('#!/usr/bin/env bash\n' + text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def machine(tmp_path):
    """``machine(gpus=..., driver=..., nvcc=...)``: run the dry run on a machine with these GPUs (none:
    no nvidia-smi), this driver and a CUDA toolkit of this version (None: no toolkit)."""

    def dry_run(gpus=(), driver='580.95.05', nvcc='13.0', **env) -> subprocess.CompletedProcess:
        bin_dir = tmp_path / 'bin'
        bin_dir.mkdir(exist_ok=True)
        if gpus:
            lines = '\n'.join(gpu.format(driver=driver) for gpu in gpus)
            executable(bin_dir / 'nvidia-smi', f"cat <<'EOF'\n{lines}\nEOF\n")
        environment = {'PATH': f'{bin_dir}:{SYSTEM_PATH}', 'HOME': str(tmp_path),
                       'SE_VENV': str(tmp_path / 'venv'), 'SE_WHEEL_CACHE': str(tmp_path / 'cache'),
                       'PYTHON': sys.executable, 'MAX_JOBS': '2'}
        if nvcc is not None:
            cuda = tmp_path / 'cuda'
            (cuda / 'bin').mkdir(parents=True, exist_ok=True)
            executable(cuda / 'bin' / 'nvcc', f'echo "Cuda compilation tools, release {nvcc}, V{nvcc}.88"\n')
            environment['CUDA_HOME'] = str(cuda)
        environment.update(env)
        return subprocess.run(['bash', osp.join(REPO, 'tools', 'setup_env.sh'), '--dry-run'], env=environment,
                              capture_output=True, text=True, timeout=60)
    return dry_run


def plan_of(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def single_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr
    assert 'pip' not in result.stdout  # stopped before planning any install
    return lines[0]


def test_with_gpus_the_plan_builds_cuda_ops_for_their_architectures(machine, tmp_path):
    plan = plan_of(machine(gpus=A100_H100))
    assert '2 NVIDIA A100-SXM4-80GB, 1 NVIDIA H100 80GB HBM3; driver 580.95.05' in plan
    build = next(line for line in plan.splitlines() if ' pip wheel ' in line)
    assert 'FORCE_CUDA=1' in build and 'MMCV_WITH_OPS=1' in build and 'MAX_JOBS=2' in build
    assert 'TORCH_CUDA_ARCH_LIST=8.0\\;9.0' in build and f'CUDA_HOME={tmp_path}/cuda' in build
    # the wheel cache is keyed by the CUDA version and the architectures too
    assert 'onedl-mmcv-2.3.6-torch2.14.1-cp' in plan and '-cu130-sm80_90' in plan
    assert not (tmp_path / 'venv').exists() and not (tmp_path / 'cache').exists()  # a dry run changes nothing


def test_without_a_gpu_the_plan_is_the_cpu_build(machine):
    plan = plan_of(machine(gpus=(), nvcc=None))
    assert 'nvidia-smi: no GPU' in plan and 'mmcv: CPU ops' in plan
    build = next(line for line in plan.splitlines() if ' pip wheel ' in line)
    assert 'FORCE_CUDA=0' in build and 'TORCH_CUDA_ARCH_LIST' not in build
    assert '-cu130' not in plan and '-r ' + osp.join(REPO, 'requirements', 'torch.txt') in plan


def test_an_index_url_chooses_the_torch_build_and_its_cuda_version(machine):
    plan = plan_of(machine(gpus=A100_H100[:1], driver='550.54.15', nvcc='12.6',
                           SE_TORCH_INDEX_URL='https://download.pytorch.org/whl/cu126',
                           SE_TORCH_SPEC='torch==2.7.1 torchvision==0.22.1'))
    assert ('--index-url https://download.pytorch.org/whl/cu126 torch==2.7.1 torchvision==0.22.1' in plan)
    assert '(CUDA build: 12.6)' in plan and 'torch2.7.1-cp' in plan and '-cu126-sm80' in plan


def test_a_driver_too_old_for_the_torch_build_is_one_clear_error(machine):
    error = single_error(machine(gpus=A100_H100, driver='535.104.05'))
    assert 'driver 535.104.05' in error and 'CUDA 13.0' in error and '>= 580.65.06' in error
    assert 'SE_TORCH_INDEX_URL' in error  # what to do about it


@pytest.mark.parametrize('nvcc, expected', [
    (None, "set CUDA_HOME (now '')"),
    ('12.4', 'nvcc in {cuda} is CUDA 12.4; torch is built for CUDA 13.0'),
])
def test_gpus_without_a_matching_cuda_toolkit_are_one_clear_error(machine, tmp_path, nvcc, expected):
    error = single_error(machine(gpus=A100_H100, nvcc=nvcc))
    assert expected.format(cuda=tmp_path / 'cuda') in error


@pytest.mark.parametrize('env, expected', [
    ({'SE_DEVICE': 'tpu'}, "SE_DEVICE='tpu' is not supported; choose one of auto, cpu, cuda"),
    ({'SE_DEVICE': 'cuda'}, 'SE_DEVICE=cuda on a machine without a GPU: set TORCH_CUDA_ARCH_LIST'),
    ({'SE_TORCH_SPEC': 'torch==2.7.1', 'SE_DEVICE': 'cuda'}, 'Set SE_TORCH_CUDA'),
])
def test_bad_settings_are_one_clear_error(machine, env, expected):
    assert expected in single_error(machine(**env))


def test_a_build_node_without_gpus_builds_cuda_ops_for_the_given_architectures(machine):
    plan = plan_of(machine(SE_DEVICE='cuda', TORCH_CUDA_ARCH_LIST='9.0'))
    assert 'FORCE_CUDA=1' in plan and 'TORCH_CUDA_ARCH_LIST=9.0' in plan


def test_an_unknown_option_is_one_clear_error(tmp_path):
    result = subprocess.run(['bash', osp.join(REPO, 'tools', 'setup_env.sh'), '--gpu'],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: unknown option '--gpu' of tools/setup_env.sh; "
                                     'its only option is --dry-run')


def test_each_step_is_one_line_and_a_failed_one_shows_the_end_of_its_log(tmp_path):
    """A real set-up (not a dry run) whose torch cannot be installed: the venv step is one line with its time, the
    failed step one line, then one error line naming the step and the log, and the log's last lines."""
    venv = tmp_path / 'venv'
    environment = {'PATH': SYSTEM_PATH, 'HOME': str(tmp_path), 'SE_VENV': str(venv), 'PYTHON': sys.executable,
                   'SE_WHEEL_CACHE': str(tmp_path / 'cache'), 'SE_TORCH_SPEC': 'se-plugins-no-such-package==0.0.1',
                   'PIP_NO_INDEX': '1'}  # nothing to fetch: pip fails at once, offline
    result = subprocess.run(['bash', osp.join(REPO, 'tools', 'setup_env.sh')], env=environment, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 0
    steps = [line for line in result.stdout.splitlines() if ' ... ' in line]
    assert steps[0].startswith(f'[setup] creating {venv} with ') and steps[0].endswith(' s')
    assert steps[1] == '[setup] installing torch and build tools ... failed'
    log = f'{venv}.setup.log'
    error, *tail = result.stderr.rstrip().splitlines()
    assert error == (f"error: the set-up step 'installing torch and build tools' failed (exit 1); its output is in "
                     f'{log}, which ends:')
    assert tail and all(line.startswith('    ') for line in tail) and 'se-plugins-no-such-package' in ''.join(tail)
    assert 'Collecting' not in result.stdout and 'pip' not in result.stdout  # pip's own output is in the log only
    assert 'se-plugins-no-such-package' in open(log).read()
