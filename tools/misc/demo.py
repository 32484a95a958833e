"""The CPU demo: Faster R-CNN with an SE-ResNet-50 FPN backbone, trained and evaluated end to end.

    python tools/misc/demo.py [--work-dir work_dirs/demo] [--num-train 128] [--epochs 6]

It generates the COCO-format shapes set, trains configs/faster_rcnn/faster-rcnn_se-r50_fpn_cpu-demo_shapes.py
on the CPU as tools/train.py does (the same checks, stop signals and checkpoints; in bf16 autocast, as --amp, on a
CPU with bf16 units, unless --fp32), evaluates with pycocotools (COCO bbox mAP) as tools/test.py does, and draws
the detections on a validation image. The console shows what
it does, a progress bar and the results; everything the runs print goes to WORK_DIR/demo.log.
"""
import argparse
import json
import os.path as osp
import time

import cv2
from mmdet.apis import inference_detector, init_detector
from mmdet.registry import VISUALIZERS

import se_plugins  # noqa: F401
from se_plugins.datasets import make_coco_detection
from se_plugins.engine import (apply_amp, end_cpu_distributed, listen_for_stop_signals, load_config, prepare_training,
                               run_leaving_nothing_on_early_failure, setup_cpu_distributed, start_worker_server)
from se_plugins.engine.console import ProgressBar, console_to_log
from se_plugins.utils import check_positive_int, run_cli
from se_plugins.utils.cpu_features import bf16_units

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'faster_rcnn', 'faster-rcnn_se-r50_fpn_cpu-demo_shapes.py')


def draw_detections(config: str, checkpoint: str, image_path: str, out_file: str, scale: int = 3) -> int:
    """Draw the detections above score 0.5 on an enlarged copy of ``image_path``; return their count."""
    model = init_detector(config, checkpoint, device='cpu')
    image = cv2.imread(image_path)
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    result = inference_detector(model, image)
    visualizer = VISUALIZERS.build(dict(model.cfg.visualizer, name='demo_visualizer'))
    visualizer.dataset_meta = model.dataset_meta
    visualizer.add_datasample('detections', image[..., ::-1], data_sample=result, draw_gt=False,
                              pred_score_thr=0.5, out_file=out_file)
    return int((result.pred_instances.scores > 0.5).sum())


def run(cfg, splits, progress: ProgressBar, step):
    """Run ``step(runner)`` on a Runner of ``cfg`` as the tools do (checks first; nothing left if it fails
    before its first iteration), its progress drawn."""
    def with_progress(runner):
        runner.register_hook(progress)
        return step(runner)
    return run_leaving_nothing_on_early_failure(cfg, splits, with_progress)


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--num-train', type=int, default=128, help='generated training images (a shorter look: 64)')
    parser.add_argument('--epochs', type=int, default=6, help='training epochs; the lr drops by 10 before the last')
    parser.add_argument('--seed', type=int, help="the run's random seed (default: the config's, a new one each run)")
    parser.add_argument('--fp32', action='store_true', help='float32 even on a CPU with bf16 units (where the demo '
                        'trains and tests in bf16 autocast, as --amp)')
    args = parser.parse_args()
    for name in ('num_train', 'epochs'):
        check_positive_int(f'--{name.replace("_", "-")}', getattr(args, name))
    listen_for_stop_signals()  # SIGTERM, SIGUSR1, Ctrl-C: stop cleanly with a checkpoint, as tools/train.py does
    start = time.time()
    log = osp.join(args.work_dir, 'demo.log')
    amp = not args.fp32 and bool(bf16_units())
    precision = (f'in bf16 autocast ({", ".join(bf16_units())}; --fp32 for float32)' if amp else
                 'in float32' + ('' if args.fp32 else ' (this CPU has no bf16 units)'))
    print('[demo] Faster R-CNN with an SE-ResNet-50 FPN backbone, trained from scratch on this CPU and evaluated '
          f'with COCO mAP, {precision}')
    data_root = osp.join(args.work_dir, 'shapes_coco')
    make_coco_detection(data_root, num_train=args.num_train, num_val=32, image_size=128)
    print(f'[demo] generated {args.num_train} training and 32 validation images of shapes in {data_root}')

    ann_file = osp.join(data_root, 'annotations', 'instances_val2017.json')
    cfg_options = {f'{split}_dataloader.dataset.data_root': data_root + '/' for split in ('train', 'val', 'test')}
    cfg_options.update({'val_evaluator.ann_file': ann_file, 'test_evaluator.ann_file': ann_file})
    cfg_options.update({'train_cfg.max_epochs': args.epochs, 'train_cfg.val_interval': args.epochs,
                        'default_hooks.checkpoint.interval': args.epochs})
    if args.seed is not None:
        cfg_options['randomness.seed'] = args.seed
    train_dir, test_dir = osp.join(args.work_dir, 'train'), osp.join(args.work_dir, 'test')
    print(f'[demo] training {args.epochs} epochs, then testing; everything the runs print: {log}')
    with console_to_log(log) as terminal:
        progress = ProgressBar(terminal)
        cfg = load_config(CONFIG, train_dir, cfg_options)
        for scheduler in cfg.param_scheduler:  # the config's schedule, at this length: the lr drops before the last
            if scheduler.type == 'MultiStepLR':
                scheduler.update(end=args.epochs, milestones=[args.epochs - 1])
        start_worker_server(cfg)  # the DataLoader workers start from it, before the model exists
        setup_cpu_distributed(cfg)
        if amp:
            apply_amp(cfg, train=True)
        prepare_training(cfg)
        run(cfg, ('train', 'val'), progress, lambda runner: runner.train())
        with open(osp.join(train_dir, 'last_checkpoint')) as f:
            checkpoint = f.read().strip()
        cfg = load_config(CONFIG, test_dir, cfg_options)
        cfg.load_from = checkpoint
        if amp:
            apply_amp(cfg, train=False)
        metrics = run(cfg, ('test', ), progress, lambda runner: runner.test())
        picture = osp.join(args.work_dir, 'detections.png')
        count = draw_detections(CONFIG, checkpoint, osp.join(data_root, 'val2017', '000001.jpg'), picture)
    summary = dict(bbox_mAP=metrics['coco/bbox_mAP'], bbox_mAP_50=metrics['coco/bbox_mAP_50'],
                   checkpoint=checkpoint, picture=picture, detections_drawn=count, log=log,
                   precision='bf16' if amp else 'fp32',
                   minutes=round((time.time() - start) / 60, 1))
    with open(osp.join(args.work_dir, 'demo_result.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    print(f'[demo] COCO bbox mAP {summary["bbox_mAP"]:.3f} (mAP@0.5 {summary["bbox_mAP_50"]:.3f}) on '
          f'{data_root}/val2017, in {summary["minutes"]} min')
    print(f'[demo] {count} detections drawn on a validation image: {picture}')
    print(f'[demo] the trained detector: {checkpoint}; the runs\' logs: {train_dir}, {test_dir}')
    return summary


if __name__ == '__main__':
    run_cli(main, on_exit=end_cpu_distributed)
