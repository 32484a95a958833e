"""Distributed runs on CPU-only machines (gloo), under torchrun or Slurm."""
import datetime
import gc
import logging
import multiprocessing.util
import os
import shutil
import subprocess
import sys

import torch
import torch.distributed as dist
from mmengine.config import Config

from se_plugins.utils import InputError

from .workers import end_quiet_workers

_started_gloo = False


def end_cpu_distributed(exit_code: int) -> None:
    """End a process whose gloo group :func:`setup_cpu_distributed` started: all ranks shut the
    group down in step, then the process leaves without the interpreter's teardown.

    At teardown, gloo's threads and the tensors they hold are destroyed in no set order, and a rank
    can abort ("terminate called without an active exception", SIGABRT) after a finished run,
    which torchrun reports as a failure. Logs are flushed first; checkpoints are already on disk.
    multiprocessing's temporary folder is removed, as its exit handler would. Does nothing in other
    processes, or when the run failed (torchrun stops the others); a
    preempted run (75, 130) stopped after the same iteration on every rank and ends like a finished
    one.

    Args:
        exit_code: The status the process ends with.
    """
    if not _started_gloo or exit_code not in (0, 75, 130) or not dist.is_initialized():
        return
    end_quiet_workers()  # first: collecting a DataLoader iterator would wait on its workers; os._exit skips atexit
    gc.collect()  # the Runner's DDP wrapper and its reducer hold the group
    dist.barrier()  # no rank closes its connections while another may still be talking to it
    dist.destroy_process_group()
    # multiprocessing's folder (the workers' fork server's socket), which its exit handler would remove
    shutil.rmtree(multiprocessing.util.get_temp_dir(), ignore_errors=True)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)


def slurm_to_torch_environment() -> None:
    """Set torch.distributed's variables from a Slurm step's, as mmengine's ``slurm`` launcher does:
    ``RANK`` = ``SLURM_PROCID``, ``WORLD_SIZE`` = ``SLURM_NTASKS``, ``LOCAL_RANK`` = ``SLURM_LOCALID``,
    ``MASTER_ADDR`` = the first host of ``SLURM_NODELIST`` (unless set), ``MASTER_PORT`` (default 29500).
    """
    missing = [name for name in ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST') if name not in os.environ]
    if missing:
        raise InputError(f'--launcher slurm outside a Slurm job step ({", ".join(missing)} not set): start it '
                         'with srun, e.g. tools/slurm_train.sh')
    if 'MASTER_ADDR' not in os.environ:
        hosts = subprocess.run(['scontrol', 'show', 'hostnames', os.environ['SLURM_NODELIST']], capture_output=True,
                               text=True, check=True).stdout.split()
        os.environ['MASTER_ADDR'] = hosts[0]
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')


def setup_cpu_distributed(cfg: Config) -> None:
    """Without CUDA, start torch.distributed with gloo and wrap the model in DDP on the CPU.

    mmengine's ``pytorch`` and ``slurm`` launchers call ``torch.cuda.set_device`` and give DDP
    ``device_ids``, which fails on a CPU-only machine. Here the process group is initialised with gloo
    (and the collective timeout of ``env_cfg.dist_cfg.timeout``) from torchrun's environment, or from
    Slurm's (:func:`slurm_to_torch_environment`: the ranks, world size and master address mmengine
    derives on GPUs), before the Runner starts (the Runner then skips its own initialisation), and DDP
    gets no ``device_ids``. With CUDA, nothing else changes.

    Call :func:`~se_plugins.engine.workers.start_worker_server` before it, as the tools do: afterwards
    this process has the process group's threads, which make forking DataLoader workers from it unsafe.
    """
    if torch.cuda.is_available():
        return
    if cfg.get('env_cfg', {}).get('dist_cfg'):
        cfg.env_cfg.dist_cfg.backend = 'gloo'  # what a CPU run uses, and what its log then says
    if cfg.launcher == 'none':
        return
    if cfg.launcher not in ('pytorch', 'slurm'):
        raise InputError(f'--launcher {cfg.launcher} needs CUDA; on a CPU-only machine use --launcher pytorch '
                         '(torchrun) or slurm (srun), which run with the gloo backend')
    if cfg.launcher == 'slurm':
        slurm_to_torch_environment()
    if not dist.is_initialized():
        timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout')  # seconds, as mmengine takes it
        timeouts = {} if timeout is None else dict(timeout=datetime.timedelta(seconds=timeout))
        dist.init_process_group(backend='gloo', **timeouts)
        global _started_gloo
        _started_gloo = True  # tools/train.py and test.py end with end_cpu_distributed
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,  # the Runner's default is [LOCAL_RANK], a CUDA device
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
