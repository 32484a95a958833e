"""The role of excitation: plot the SE gates of chosen blocks per class (the paper's Fig. 6 and 7).

    python tools/analysis_tools/excitation.py CONFIG [--checkpoint CKPT] [--classes goldfish pug ...]
        [--blocks SE_2_3 SE_3_4 SE_4_6 SE_5_1 SE_5_2 SE_5_3] [--images-per-class 50] [--out-dir DIR]

The images are those of the config's test dataset (an ImageNet or Places365 config, or any
classification config), taken in order until each class has ``--images-per-class``. Without a
checkpoint, the model keeps its random initialisation.
"""
import argparse
import json
import os
import os.path as osp
from collections import Counter

import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.runner import load_checkpoint

import se_plugins  # noqa: F401
from se_plugins.analysis.excitation import PAPER_BLOCKS, excitation_figures, record_excitations, save_figures
from se_plugins.building import build_dataset, build_model
from se_plugins.engine import require_checkpoint_fit
from se_plugins.utils import InputError, run_cli


def batches(model, dataset, images_per_class: int, batch_size: int = 16):
    """Preprocessed ``(inputs, labels)`` batches of the first ``images_per_class`` images of each class."""
    taken = Counter()
    items = []
    for index in range(len(dataset)):
        label = int(dataset.get_data_info(index)['gt_label'])
        if taken[label] >= images_per_class:
            continue
        taken[label] += 1
        items.append(dataset[index])
        if len(items) == batch_size:
            yield _preprocess(model, items)
            items = []
    if items:
        yield _preprocess(model, items)


def _preprocess(model, items):
    data = model.data_preprocessor(pseudo_collate(items), False)
    labels = torch.stack([sample.gt_label[0] for sample in data['data_samples']])
    return data['inputs'], labels


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='a classification config')
    parser.add_argument('--checkpoint', help='weights; without them, a randomly initialised model')
    parser.add_argument('--classes', nargs='+', help='class names to draw (default: the first 4)')
    parser.add_argument('--blocks', nargs='+', default=list(PAPER_BLOCKS), help='SE blocks, SE_<stage>_<block>')
    parser.add_argument('--images-per-class', type=int, default=50)
    parser.add_argument('--out-dir', default='work_dirs/excitation')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    args = parser.parse_args()

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = build_model(cfg)
    if args.checkpoint:
        require_checkpoint_fit(model, args.checkpoint, '--checkpoint')
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    dataset = build_dataset(cfg)
    class_names = list(dataset.metainfo['classes'])
    names = args.classes or class_names[:4]
    unknown = [name for name in names if name not in class_names]
    if unknown:
        raise InputError(f'--classes {unknown} are not classes of {args.config}\'s test dataset')
    classes = [class_names.index(name) for name in names]
    excitations = record_excitations(model, batches(model, dataset, args.images_per_class), args.blocks)
    os.makedirs(args.out_dir, exist_ok=True)
    files = save_figures(excitation_figures(excitations, class_names, classes), args.out_dir)
    summary = {block: {class_names[c]: per_class[c].mean().item() for c in classes}
               for block, per_class in excitations.items()}
    with open(osp.join(args.out_dir, 'excitation_means.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    for name, path in files.items():
        print(f'{name}: {path}')
    return files


if __name__ == '__main__':
    run_cli(main)
