"""Evaluate a checkpoint: python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
[--show-dir DIR] [--tta] ..."""
import argparse
import os.path as osp

from mmengine.config import DictAction
from mmengine.logging import print_log

import se_plugins  # noqa: F401  (registers the se_plugins scope and the se_plugins:: config package)
from se_plugins.building import task_scope
from se_plugins.engine import (apply_amp, apply_test_options, end_cpu_distributed, load_config, parse_tool_args,
                               prepare_testing, require_checkpoint, run_leaving_nothing_on_early_failure,
                               setup_cpu_distributed, start_worker_server)
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
    parser.add_argument('--out', help="every prediction, as a pickle that mmpretrain's and mmdet's analysis tools "
                        'read (confusion_matrix, analyze_results, eval_metric)')
    parser.add_argument('--show-dir', help='draw the predictions into this folder (a detector: inside the run\'s '
                        'log folder, as mmdet does)')
    parser.add_argument('--amp', action='store_true', help='mixed precision: fp16 on a GPU, bf16 on a CPU with bf16 '
                        'units (AVX512-BF16, AMX)')
    parser.add_argument('--tta', action='store_true', help="test-time augmentation: the config's tta_model and "
                        'tta_pipeline, or the image and its mirror image')
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
    apply_test_options(cfg, args.out, args.show_dir, args.tta)
    prepare_testing(cfg)  # the count of bad images skipped, when a dataset has a budget
    if args.amp:
        print_log(f'--amp: mixed precision, {apply_amp(cfg, train=False)}', logger='current')

    def test(runner) -> dict:
        metrics = runner.test()
        if args.out:
            print(f'predictions: {args.out}')
        if args.show_dir:
            drawn = args.show_dir if task_scope(cfg) != 'mmdet' else osp.join(runner.log_dir, args.show_dir)
            print(f'drawn predictions: {drawn}')
        return metrics
    return run_leaving_nothing_on_early_failure(cfg, ('test',), test)


if __name__ == '__main__':
    run_cli(main, on_exit=end_cpu_distributed)
