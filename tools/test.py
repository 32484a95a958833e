"""Evaluate a checkpoint: python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] ..."""
import argparse

from mmengine.config import DictAction

import se_plugins  # noqa: F401  (registers the se_plugins scope and the se_plugins:: config package)
from se_plugins.engine import (end_cpu_distributed, load_config, parse_tool_args, require_checkpoint,
                               run_leaving_nothing_on_early_failure, setup_cpu_distributed, start_worker_server)
from se_plugins.utils import run_cli


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and results go (default: work_dirs/<config>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. test_dataloader.batch_size=1')
    parser.add_argument('--fuse-conv-bn', action='store_true',
                        help='fold BN into the convs before testing (deploy mode: faster, same results)')
    return parse_tool_args(parser)


def main() -> dict:
    args = parse_args()
    require_checkpoint(args.checkpoint, 'checkpoint')  # before the config is read or a work dir made
    cfg = load_config(args.config, args.work_dir, args.cfg_options, args.launcher, args.data_root, args.ann_file,
                      args.strict_config)
    start_worker_server(cfg)  # the DataLoader workers start from it, before the model and the process group
    setup_cpu_distributed(cfg)  # without CUDA, a torchrun or Slurm run's gloo process group
    cfg.load_from = args.checkpoint
    if args.fuse_conv_bn:
        cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(type='se_plugins.FuseConvBNHook')]
    return run_leaving_nothing_on_early_failure(cfg, ('test',), lambda runner: runner.test())


if __name__ == '__main__':
    run_cli(main, on_exit=end_cpu_distributed)
