"""What tools/train.py and tools/test.py share: the config as the command line shapes it, and the
CPU-only distributed path."""
import argparse
import datetime
import gc
import logging
import os
import os.path as osp
import sys
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config

from se_plugins.utils import InputError, MissingInputError

_started_gloo = False


def parse_tool_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Add ``--launcher`` and ``--local-rank`` to a tool's arguments and parse its command line.

    As in mmdet's and mmpretrain's tools, the local rank that ``torch.distributed.launch`` passes as
    ``--local-rank=N`` (``mim train --launcher pytorch`` starts the tools that way) goes to the
    ``LOCAL_RANK`` environment variable, where torch.distributed and mmengine read it; torchrun sets
    the variable itself.

    Args:
        parser: The tool's parser, with its own arguments.
    """
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher: pytorch under torchrun, slurm under srun')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_config(config: str,
                work_dir: Optional[str] = None,
                cfg_options: Optional[dict] = None,
                launcher: str = 'none') -> Config:
    """Read a config and apply the command line's overrides.

    Args:
        config: The config file.
        work_dir: Where logs and checkpoints go. Default: the config's ``work_dir``, else
            ``work_dirs/<config file stem>``.
        cfg_options: ``--cfg-options`` key-value pairs merged into the config.
        launcher: ``none``, ``pytorch``, ``slurm`` or ``mpi``.
    """
    if not osp.isfile(config):
        raise MissingInputError(f'config file {config} does not exist')
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(config))[0])
    setup_cpu_distributed(cfg)
    return cfg


def end_cpu_distributed(exit_code: int) -> None:
    """End a process whose gloo group :func:`setup_cpu_distributed` started: all ranks shut the
    group down in step, then the process leaves without the interpreter's teardown.

    At teardown, gloo's threads and the tensors they hold are destroyed in no set order, and a rank
    can abort ("terminate called without an active exception", SIGABRT) after a finished run,
    which torchrun reports as a failure. Logs are flushed first; checkpoints are already on disk.
    Does nothing in other processes, or when the run failed (torchrun stops the others); a
    preempted run (75, 130) stopped after the same iteration on every rank and ends like a finished
    one.

    Args:
        exit_code: The status the process ends with.
    """
    if not _started_gloo or exit_code not in (0, 75, 130) or not dist.is_initialized():
        return
    gc.collect()  # the Runner's DDP wrapper and its reducer hold the group
    dist.barrier()  # no rank closes its connections while another may still be talking to it
    dist.destroy_process_group()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)


def setup_cpu_distributed(cfg: Config) -> None:
    """Without CUDA, start torch.distributed with gloo and wrap the model in DDP on the CPU.

    mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` and gives DDP ``device_ids``,
    which fails on a CPU-only machine. Here the process group is initialised from torchrun's
    environment with gloo (and the collective timeout of ``env_cfg.dist_cfg.timeout``) before the
    Runner starts (the Runner then skips its own initialisation), and DDP gets no ``device_ids``.
    With CUDA, nothing changes.
    """
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    if cfg.launcher != 'pytorch':
        raise InputError(f'--launcher {cfg.launcher} needs CUDA; on a CPU-only machine use '
                         '--launcher pytorch with torchrun (gloo backend)')
    if not dist.is_initialized():
        timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout')  # seconds, as mmengine takes it
        dist.init_process_group(backend='gloo', **({} if timeout is None else
                                                  dict(timeout=datetime.timedelta(seconds=timeout))))
        global _started_gloo
        _started_gloo = True  # tools/train.py and test.py end with end_cpu_distributed
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,  # the Runner's default is [LOCAL_RANK], a CUDA device
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
