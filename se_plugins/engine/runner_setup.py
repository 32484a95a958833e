"""What tools/train.py and tools/test.py share: the config as the command line shapes it, and the
CPU-only distributed path."""
import argparse
import datetime
import gc
import inspect
import logging
import os
import os.path as osp
import shutil
import subprocess
import sys
from typing import Callable, Optional, Sequence

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import VISUALIZERS
from mmengine.runner import Runner

from se_plugins.utils import InputError

from .checkpoint import require_checkpoint_fit
from .config_checks import check_config, point_at_data, read_config, unread_top_level_keys
from .data_loading import end_quiet_workers, quiet_workers

_started_gloo = False


def parse_tool_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Add the arguments tools/train.py and tools/test.py share, and parse the command line.

    ``--launcher``; ``--local-rank``: as in mmdet's and mmpretrain's tools, the local rank that
    ``torch.distributed.launch`` passes as ``--local-rank=N`` (``mim train --launcher pytorch`` starts
    the tools that way) goes to the ``LOCAL_RANK`` environment variable, where torch.distributed and
    mmengine read it; torchrun sets the variable itself. ``--data-root`` and ``--ann-file``: see
    :func:`~se_plugins.engine.config_checks.point_at_data`. ``--strict-config``: a misspelt top-level
    key is an error, not a warning.

    Args:
        parser: The tool's parser, with its own arguments.
    """
    parser.add_argument('--data-root', help="the dataset's folder: sets every dataloader's data_root (and, "
                        "for COCO, the evaluators' annotation file under it)")
    parser.add_argument('--ann-file', help="the evaluators' annotation file, if not <data-root>/<the val "
                        "dataset's ann_file>")
    parser.add_argument('--strict-config', action='store_true',
                        help='stop on a top-level config key that nothing reads (default: a warning)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher: pytorch under torchrun, slurm under srun')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if args.ann_file and not args.data_root:
        raise InputError('--ann-file goes with --data-root')
    return args


def load_config(config: str,
                work_dir: Optional[str] = None,
                cfg_options: Optional[dict] = None,
                launcher: str = 'none',
                data_root: Optional[str] = None,
                ann_file: Optional[str] = None,
                strict: bool = False) -> Config:
    """Read a config and apply the command line: ``--data-root``/``--ann-file``, then ``--cfg-options``
    (the more specific), the work dir and the launcher; warn about (``strict``: refuse) misspelt
    top-level keys.

    Args:
        config: The config file.
        work_dir: Where logs and checkpoints go. Default: the config's ``work_dir``, else
            ``work_dirs/<config file stem>``.
        cfg_options: ``--cfg-options`` key-value pairs merged into the config.
        launcher: ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        data_root: The dataset folder for every dataloader (see
            :func:`~se_plugins.engine.config_checks.point_at_data`).
        ann_file: The evaluators' annotation file, with ``data_root``.
        strict: A misspelt top-level key is an error, not a warning.
    """
    cfg = read_config(config)
    cfg.launcher = launcher
    if data_root:
        point_at_data(cfg, data_root, ann_file)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    problems = unread_top_level_keys(cfg)
    if problems and strict:
        raise InputError(f'{config}: ' + '; '.join(problems))
    for problem in problems:
        print_log(f'{config}: {problem}', logger='current', level=30)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(config))[0])
    setup_cpu_distributed(cfg)
    return cfg


class _CPUEnvironmentLabels(logging.Filter):
    """mmengine logs a run's world size as ``GPU number``; on a machine without CUDA it counts CPU processes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and '\n    GPU number: ' in record.msg:
            record.msg = record.msg.replace('\n    GPU number: ', '\n    CPU processes (no GPU): ')
        return True


class SERunner(Runner):
    """mmengine's Runner (the tools' Runner), whose logged environment says CPU where there is no GPU and
    whose visualizer is always its own."""

    def build_visualizer(self, visualizer=None):
        """mmengine's, except that a run never takes over the visualizer of an earlier run in the process.

        mmdet's configs name their visualizer ``'visualizer'``, and mmengine hands a second Runner of a
        process (the Python API, a notebook, an in-process test) the first one's instance of that name, with
        the first run's folder: the second run's config dump, scalars and pictures would land there (or fail
        once that folder is gone). Such a run's visualizer is named after the run instead.
        """
        if isinstance(visualizer, dict) and 'name' in visualizer:
            kind = visualizer.get('type', 'Visualizer')
            if not inspect.isclass(kind):
                with VISUALIZERS.switch_scope_and_registry(None) as registry:  # the run's default scope
                    kind = registry.get(kind)
            name, count = visualizer['name'], 0
            while kind is not None and kind.check_instance_created(name):
                count += 1
                name = self.experiment_name if count == 1 else f'{self.experiment_name}_{count}'
            visualizer = dict(visualizer, name=name)
        return super().build_visualizer(visualizer)

    def train(self):
        """mmengine's; a ``load_from`` checkpoint may leave the head out (fine-tuning); one resumed from must fit
        entirely (:func:`~se_plugins.engine.checkpoint.require_checkpoint_fit`)."""
        self._fine_tuning = True
        try:
            return super().train()
        finally:
            self._fine_tuning = False

    def load_checkpoint(self, filename: str, *args, **kwargs):
        """mmengine's, after checking that the checkpoint fits the model: entirely to test, validate or
        predict; its backbone at least to fine-tune, with one line saying what was loaded."""
        fine_tune = getattr(self, '_fine_tuning', False)
        said = require_checkpoint_fit(self.model, filename, 'load_from' if fine_tune else 'checkpoint', fine_tune)
        if fine_tune:
            self.logger.info(said)
        return super().load_checkpoint(filename, *args, **kwargs)

    def resume(self, filename: str, *args, **kwargs):
        """mmengine's, after checking that the checkpoint fits the model entirely."""
        require_checkpoint_fit(self.model, filename, '--resume')
        return super().resume(filename, *args, **kwargs)

    @staticmethod
    def build_dataloader(dataloader, seed: Optional[int] = None, diff_rank_seed: bool = False):
        """mmengine's, with workers that survive the stop signals a job's processes receive and iterators that
        leave the global random state alone (:func:`~se_plugins.engine.data_loading.quiet_workers`)."""
        return quiet_workers(Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed), seed)

    def build_logger(self, *args, **kwargs):
        logger = super().build_logger(*args, **kwargs)
        if not torch.cuda.is_available() and not any(isinstance(f, _CPUEnvironmentLabels) for f in logger.filters):
            logger.addFilter(_CPUEnvironmentLabels())
        return logger


class _Progress(Hook):
    """Counts the iterations a run has done."""

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self.iterations = 0

    def after_train_iter(self, *args, **kwargs) -> None:
        self.iterations += 1

    after_val_iter = after_test_iter = after_train_iter


def run_leaving_nothing_on_early_failure(cfg: Config, splits: Sequence[str], run: Callable[[Runner], object]):
    """Check the arguments and paths of what the config builds for ``splits``, build the Runner and
    ``run(runner)``; if that fails before the first iteration, remove what the Runner wrote (its log
    folder, the config dump, a work dir it made).

    Args:
        cfg: The config.
        splits: The splits the tool uses (see :func:`~se_plugins.engine.config_checks.check_paths`).
        run: What to do with the Runner (``Runner.train``, ``Runner.test``).

    Returns:
        What ``run`` returns.
    """
    check_config(cfg, splits)
    work_dir = osp.abspath(cfg.work_dir)
    created = work_dir  # the top-most folder the Runner will make, if work_dir does not exist yet
    while not osp.exists(osp.dirname(created)):
        created = osp.dirname(created)
    before = set(os.listdir(work_dir)) if osp.isdir(work_dir) else None
    progress = _Progress()
    try:
        runner = SERunner.from_cfg(cfg)
        runner.register_hook(progress)
        return run(runner)
    except BaseException:
        if not progress.iterations:
            if before is None:
                shutil.rmtree(created, ignore_errors=True)
            else:
                for entry in set(os.listdir(work_dir)) - before:
                    path = osp.join(work_dir, entry)
                    shutil.rmtree(path, ignore_errors=True) if osp.isdir(path) else os.remove(path)
        raise


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
    end_quiet_workers()  # first: collecting a DataLoader iterator would wait on its workers; os._exit skips atexit
    gc.collect()  # the Runner's DDP wrapper and its reducer hold the group
    dist.barrier()  # no rank closes its connections while another may still be talking to it
    dist.destroy_process_group()
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
    gets no ``device_ids``. With CUDA, nothing changes.
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
