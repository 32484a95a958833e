"""Train a model from a config: python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] ..."""
import argparse

from mmengine.config import DictAction
from mmengine.logging import print_log

import se_plugins  # noqa: F401  (registers the se_plugins scope and the se_plugins:: config package)
from se_plugins.engine import (TRACKERS, add_trackers, apply_amp, end_cpu_distributed, listen_for_stop_signals,
                               load_config, parse_tool_args, prepare_training, resolve_resume,
                               run_leaving_nothing_on_early_failure, setup_cpu_distributed, start_worker_server)
from se_plugins.utils import InputError, run_cli


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default: work_dirs/<config>)')
    parser.add_argument('--resume', nargs='?', const='auto', help='resume from this checkpoint, or '
                        'from the latest one in the work dir when no path is given')
    parser.add_argument('--amp', action='store_true', help='mixed precision: fp16 on a GPU, bf16 on a CPU with bf16 '
                        'units (AVX512-BF16, AMX)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help="scale the config's learning rate by (processes x batch per process) / "
                        'auto_scale_lr.base_batch_size, the global batch the config was made for')
    parser.add_argument('--no-validate', action='store_true', help='train without evaluating in between')
    parser.add_argument('--tracker', action='append', choices=sorted(TRACKERS), default=[],
                        help="also log to TensorBoard (event files in the run's vis_data/) or MLflow (mlflow.db "
                        'here); repeatable')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. train_cfg.max_epochs=1')
    return parse_tool_args(parser)


def main() -> None:
    args = parse_args()
    listen_for_stop_signals()  # SIGTERM, SIGUSR1, Ctrl-C from now on: stop cleanly (see PreemptionHook)
    cfg = load_config(args.config, args.work_dir, args.cfg_options, args.launcher, args.data_root, args.ann_file,
                      args.strict_config)
    start_worker_server(cfg)  # the DataLoader workers start from it, before the model and the process group
    setup_cpu_distributed(cfg)  # without CUDA, a torchrun or Slurm run's gloo process group
    if args.amp:
        print_log(f'--amp: mixed precision, {apply_amp(cfg, train=True)}', logger='current')
    if args.auto_scale_lr:
        if 'base_batch_size' not in (cfg.get('auto_scale_lr') or {}):
            raise InputError(f'--auto-scale-lr: {args.config} sets no auto_scale_lr.base_batch_size, the '
                             'global batch its learning rate is for')
        cfg.auto_scale_lr.enable = True
    add_trackers(cfg, args.tracker)
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.resume is not None:
        cfg.load_from = resolve_resume(cfg.work_dir, args.resume)
        cfg.resume = cfg.load_from is not None  # a first launch with --resume starts from scratch
    prepare_training(cfg)  # checkpoint after the iteration on a stop signal, exit 75 (130); per-sample seeds

    def train(runner) -> None:
        if args.resume is not None and not cfg.resume:
            runner.logger.info(f'--resume: no checkpoint in {cfg.work_dir} yet; starting from scratch')
        runner.train()
    splits = ('train', 'val') if cfg.get('val_dataloader') else ('train',)
    run_leaving_nothing_on_early_failure(cfg, splits, train)


if __name__ == '__main__':
    run_cli(main, on_exit=end_cpu_distributed)
