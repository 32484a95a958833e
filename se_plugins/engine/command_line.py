"""The command line that tools/train.py and tools/test.py share, and the config as it shapes it."""
import argparse
import copy
import os
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from se_plugins.building import task_scope
from se_plugins.utils import InputError

from .config_checks import point_at_data, read_config, unread_top_level_keys


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
    top-level keys. Nothing else happens: the tools start a distributed run with
    :func:`~se_plugins.engine.distributed.setup_cpu_distributed` on the config this returns.

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
    return cfg


# What tools/train.py --tracker adds to the config's visualizer, beside its local files (vis_data/scalars.json):
# TensorBoard's event files in the run's vis_data/ (tensorboard --logdir work_dirs); MLflow's local database,
# mlflow.db in the folder the run starts from (mlflow ui --backend-store-uri sqlite:///mlflow.db: MLflow 3 refuses
# its old file store).
TRACKERS = {
    'tensorboard': dict(type='TensorboardVisBackend'),
    'mlflow': dict(type='MLflowVisBackend', tracking_uri='sqlite:///mlflow.db'),
}


def add_trackers(cfg: Config, trackers: Sequence[str]) -> None:
    """Add the vis backends of ``trackers`` (:data:`TRACKERS`) to the config's visualizer, once each.

    Args:
        cfg: A config with a ``visualizer``, changed in place.
        trackers: Names of :data:`TRACKERS`.
    """
    if not trackers:
        return
    if not isinstance(cfg.get('visualizer'), dict):
        raise InputError('--tracker: the config has no visualizer to add a tracker to')
    backends = list(cfg.visualizer.get('vis_backends') or [dict(type='LocalVisBackend')])
    for name in trackers:
        if not any(str(b.get('type', '')).split('.')[-1] == TRACKERS[name]['type'] for b in backends):
            backends.append(dict(TRACKERS[name]))
    cfg.visualizer.vis_backends = backends


RESULTS_SUFFIXES = ('.pkl', '.pickle')  # what mmpretrain's and mmdet's analysis tools read


def _innermost_test_dataset(cfg: Config) -> dict:
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset:  # dataset wrappers
        dataset = dataset['dataset']
    return dataset


def _flip_test_time_augmentation(cfg: Config, detection: bool) -> list:
    """mmpretrain's and mmdet's test tools' default: the test pipeline on the image and its mirror image."""
    pipeline = copy.deepcopy(_innermost_test_dataset(cfg).pipeline)
    pack = dict(pipeline[-1])
    if detection and 'meta_keys' in pack:  # the TTA model un-flips the boxes of the mirror image
        pack['meta_keys'] = tuple(dict.fromkeys((*pack['meta_keys'], 'flip', 'flip_direction')))
    flips = [dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)]
    return pipeline[:-1] + [dict(type='TestTimeAug', transforms=[flips, [pack]])]


def apply_test_options(cfg: Config, out: Optional[str] = None, show_dir: Optional[str] = None,
                       tta: bool = False) -> None:
    """What ``tools/test.py --out/--show-dir/--tta`` change in a config, as mmpretrain's and mmdet's test tools do.

    Args:
        cfg: A config, changed in place.
        out: A pickle of every prediction (mmengine's ``DumpResults``; mmdet's ``DumpDetResults`` for a detector),
            the file mmpretrain's and mmdet's analysis tools read (``confusion_matrix``, ``analyze_results``,
            ``eval_metric``).
        show_dir: Where the test draws its predictions: a classifier's into this folder (mmpretrain's
            ``VisualizationHook``, each drawing named after the image's path below the dataset's folder:
            :class:`~se_plugins.engine.hooks.ClassificationDrawingHook`); a detector's into this folder inside the
            run's log folder, as mmdet's ``DetVisualizationHook`` puts them.
        tta: Test-time augmentation: the config's ``tta_model`` around its model and its ``tta_pipeline`` as the
            test pipeline; a config without them gets the peers' default, the test pipeline on the image and its
            mirror image, scores averaged (``AverageClsScoreTTA``) or boxes merged by NMS (``DetTTAModel``).
    """
    detection = task_scope(cfg) == 'mmdet'
    if tta and show_dir and not detection:
        raise InputError("--show-dir with --tta: mmpretrain's VisualizationHook draws plain test batches only, not "
                         'the augmented ones; draw in a test without --tta')
    if tta:
        if 'tta_model' not in cfg:
            nms = dict(type='nms', iou_threshold=0.5)
            cfg.tta_model = (dict(type='DetTTAModel', tta_cfg=dict(nms=nms, max_per_img=100)) if detection
                             else dict(type='mmpretrain.AverageClsScoreTTA'))
        if 'tta_pipeline' not in cfg:
            cfg.tta_pipeline = _flip_test_time_augmentation(cfg, detection)
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        _innermost_test_dataset(cfg).pipeline = cfg.tta_pipeline
    if show_dir:
        hook = (cfg.get('default_hooks') or {}).get('visualization')
        if hook is None:
            raise InputError('--show-dir: the config has no default_hooks.visualization to draw with (mmpretrain\'s '
                             "VisualizationHook or mmdet's DetVisualizationHook)")
        drawing = (dict(draw=True, test_out_dir=show_dir) if detection else
                   dict(type='se_plugins.ClassificationDrawingHook', enable=True, out_dir=show_dir))
        hook.update(drawing, interval=1)  # every image, as the peers' tools draw them
    if out:
        if not out.endswith(RESULTS_SUFFIXES):
            raise InputError(f'--out {out}: the predictions are written as a pickle, the file mmpretrain\'s and '
                             "mmdet's analysis tools read; name it .pkl or .pickle")
        evaluators = cfg.get('test_evaluator') or []
        evaluators = list(evaluators) if isinstance(evaluators, (list, tuple)) else [evaluators]
        dump = 'mmdet.DumpDetResults' if detection else 'DumpResults'
        cfg.test_evaluator = [*evaluators, dict(type=dump, out_file_path=out)]
