"""Draw a config's dataset as the model sees it: images after the pipeline, with their labels or boxes.

    python tools/analysis_tools/browse_dataset.py CONFIG [--split train|val|test] [--num 8]
        [--out-dir work_dirs/browse] [--cfg-options ...]

Works for the classification configs (ImageNet, Places365: the class name is written on the image)
and the detection configs (COCO: the boxes are drawn with mmdet's visualiser). The images are
written as ``OUT_DIR/<index>_<image name>.png``.
"""
import argparse
import os
import os.path as osp
import time
from typing import List

import mmcv
from mmengine.config import Config, DictAction

import se_plugins  # noqa: F401
from se_plugins.building import build_dataset, in_scope, task_scope
from se_plugins.utils import run_cli


def browse(cfg: Config, split: str, num: int, out_dir: str) -> List[str]:
    """Write the first ``num`` items of the ``split`` dataset of ``cfg``, drawn; return the files."""
    scope = task_scope(cfg)
    os.makedirs(out_dir, exist_ok=True)
    files = []
    with in_scope(scope):
        if scope == 'mmdet':
            from mmdet.structures.bbox import BaseBoxes
            from mmdet.visualization import DetLocalVisualizer
            visualizer = DetLocalVisualizer(name=f'browse_{time.time()}')
        else:
            from mmpretrain.visualization import UniversalVisualizer
            visualizer = UniversalVisualizer(name=f'browse_{time.time()}')
        dataset = build_dataset(cfg, split)
        visualizer.dataset_meta = dataset.metainfo
        for index in range(min(num, len(dataset))):
            item = dataset[index]
            sample = item['data_samples']
            image = mmcv.bgr2rgb(item['inputs'].permute(1, 2, 0).numpy())  # what the model gets, before normalising
            name = osp.splitext(osp.basename(sample.img_path))[0]
            path = osp.join(out_dir, f'{index}_{name}.png')
            if scope == 'mmdet':
                if isinstance(sample.gt_instances.get('bboxes'), BaseBoxes):  # the visualiser takes tensors
                    sample.gt_instances.bboxes = sample.gt_instances.bboxes.tensor
                visualizer.add_datasample(name, image, sample, draw_pred=False, out_file=path)
            else:
                visualizer.visualize_cls(image, sample, classes=dataset.metainfo['classes'], draw_pred=False,
                                         out_file=path)
            files.append(path)
    return files


def main() -> List[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--split', choices=['train', 'val', 'test'], default='train')
    parser.add_argument('--num', type=int, default=8, help='images to draw')
    parser.add_argument('--out-dir', default='work_dirs/browse')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    files = browse(cfg, args.split, args.num, args.out_dir)
    print(f'wrote {len(files)} images to {args.out_dir}')
    return files


if __name__ == '__main__':
    run_cli(main)
