"""Build time and peak memory of our datasets beside the peers' on lists of the paper's size.

    python tools/analysis_tools/benchmark_dataset.py [--places365-lines 8026628] [--imagenet-lines 1281167]
        [--coco-images 118287] [--coco-boxes 860001] [--workers 8] [--datasets places365 imagenet coco]

For each dataset, a list (or a COCO annotation file) of the given size is generated in a temporary
folder, in the official format (no image is needed to build a dataset). Each dataset is then built in
a process of its own, ours and the peer's alternately (``--rounds`` times; the median build is
shown): the build time, the process's peak RSS and the peak RSS above the process before the build
(its imports) are printed with the ratios ours / peer.
``--workers N`` then starts a DataLoader with N workers that read samples from all over the dataset,
and reports the main process's RSS and each worker's private memory (USS): what is shared with the
main process is not copied per worker. Peers: mmpretrain's ``CustomDataset`` (Places365),
mmpretrain's ``ImageNet``, mmdet's ``CocoDataset``.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

import numpy as np

PEERS = {  # dataset: (ours, the peer); each builds from the generated folder
    'places365': ("se_plugins.datasets.Places365(root, split='train_challenge')",
                  "mmpretrain.datasets.CustomDataset(data_root=root, ann_file='places365_train_challenge.txt', "
                  "data_prefix='data_256', with_label=True)"),
    'imagenet': ("se_plugins.datasets.ImageNet(data_root=root, split='train')",
                 "mmpretrain.datasets.ImageNet(data_root=root, split='train')"),
    'coco': ("se_plugins.datasets.CocoDataset(data_root=root + '/', ann_file='annotations/instances_train2017.json', "
             "data_prefix=dict(img='train2017/'), filter_cfg=dict(filter_empty_gt=True, min_size=32))",
             "mmdet.datasets.CocoDataset(data_root=root + '/', ann_file='annotations/instances_train2017.json', "
             "data_prefix=dict(img='train2017/'), filter_cfg=dict(filter_empty_gt=True, min_size=32))"),
}


def write_places365(root: str, lines: int) -> None:
    from se_plugins.datasets.places365 import CATEGORY_PATHS
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(CATEGORY_PATHS), lines)
    with open(osp.join(root, 'places365_train_challenge.txt'), 'w') as f:
        for start in range(0, lines, 1 << 20):
            f.write(''.join(f'{CATEGORY_PATHS[label]}/{i:08d}.jpg {label}\n'
                            for i, label in enumerate(labels[start:start + (1 << 20)], start + 1)))


def write_imagenet(root: str, lines: int) -> None:
    os.makedirs(osp.join(root, 'meta'))
    os.makedirs(osp.join(root, 'train'))
    labels = np.random.default_rng(0).integers(0, 1000, lines)
    with open(osp.join(root, 'meta', 'train.txt'), 'w') as f:
        f.write(''.join(f'n{label:08d}/n{label:08d}_{i}.JPEG {label}\n' for i, label in enumerate(labels)))


def write_coco(root: str, images: int, boxes: int) -> None:
    from mmdet.datasets import CocoDataset
    os.makedirs(osp.join(root, 'annotations'))
    os.makedirs(osp.join(root, 'train2017'))
    rng = np.random.default_rng(0)
    classes = CocoDataset.METAINFO['classes']
    image_ids = rng.integers(0, images, boxes)
    xy, wh = rng.uniform(0, 400, (boxes, 2)).round(2), rng.uniform(8, 200, (boxes, 2)).round(2)
    content = dict(
        images=[dict(id=i, file_name=f'{i:012d}.jpg', height=480, width=640) for i in range(images)],
        annotations=[dict(id=i, image_id=int(image_ids[i]), category_id=int(i % len(classes)) + 1,
                          bbox=[*xy[i].tolist(), *wh[i].tolist()], area=float(wh[i, 0] * wh[i, 1]), iscrowd=0)
                     for i in range(boxes)],
        categories=[dict(id=i + 1, name=name) for i, name in enumerate(classes)])
    with open(osp.join(root, 'annotations', 'instances_train2017.json'), 'w') as f:
        json.dump(content, f)


def rss_mb(field: str = 'VmRSS') -> float:
    """This process's resident memory now (``VmRSS``) or at its peak (``VmHWM``), in MB.

    Not ``getrusage``'s ``ru_maxrss``: it keeps, across fork and exec, the peak of the process that
    started this one (here the tool, after writing the files).
    """
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith(f'{field}:')) / 1024


def private_mb(pid: int) -> float:
    """A process's unique memory (USS): its private pages, clean and dirty."""
    with open(f'/proc/{pid}/smaps_rollup') as f:
        return sum(int(line.split()[1]) for line in f if line.startswith(('Private_Clean:', 'Private_Dirty:'))) / 1024


def measure(expression: str, root: str, workers: int) -> Dict[str, float]:
    """Build ``expression`` in this process (a child of the tool) and report time and memory."""
    import mmdet.datasets  # noqa: F401
    import mmpretrain.datasets  # noqa: F401
    import torch

    import se_plugins.datasets  # noqa: F401
    before = rss_mb()
    start = time.perf_counter()
    dataset = eval(expression, {'se_plugins': sys.modules['se_plugins'], 'mmpretrain': sys.modules['mmpretrain'],
                                'mmdet': sys.modules['mmdet'], 'root': root})
    seconds = time.perf_counter() - start
    result = dict(samples=len(dataset), seconds=seconds, rss_before_mb=before,
                  peak_rss_mb=rss_mb('VmHWM'))
    if workers:
        sampler = torch.utils.data.RandomSampler(dataset, num_samples=workers * 64,
                                                 generator=torch.Generator().manual_seed(0))
        # no pipeline: a sample is its dict, no image is read
        loader = torch.utils.data.DataLoader(dataset, batch_size=16, sampler=sampler, num_workers=workers,
                                             collate_fn=lambda batch: len(batch), persistent_workers=True)
        iterator = iter(loader)
        assert sum(iterator) == workers * 64
        pids = [worker.pid for worker in iterator._workers]
        result.update(main_rss_with_workers_mb=rss_mb(),
                      worker_private_mb=[round(private_mb(pid), 1) for pid in pids])
        del iterator, loader
    return result


def run_child(expression: str, root: str, workers: int) -> Dict[str, float]:
    output = subprocess.run([sys.executable, __file__, '--child', expression, root, str(workers)],
                            capture_output=True, text=True, check=False)
    if output.returncode != 0:
        raise RuntimeError(f'{expression} failed:\n{output.stderr[-3000:]}')
    return json.loads(output.stdout.strip().splitlines()[-1])


def median_run(results: List[Dict[str, float]]) -> Dict[str, float]:
    """The run with the median build time (its memory figures come with it)."""
    return sorted(results, key=lambda result: result['seconds'])[len(results) // 2]


def report(name: str, ours: Dict[str, float], peer: Dict[str, float]) -> List[str]:
    lines = [f'{name}: {ours["samples"]:,} samples (the peer: {peer["samples"]:,})',
             f'  {"":<6} {"build s":>9} {"peak RSS MB":>12} {"above imports MB":>17}']
    for who, result in (('ours', ours), ('peer', peer)):
        lines.append(f'  {who:<6} {result["seconds"]:>9.2f} {result["peak_rss_mb"]:>12.0f} '
                     f'{result["peak_rss_mb"] - result["rss_before_mb"]:>17.0f}')
    above_imports = (ours['peak_rss_mb'] - ours['rss_before_mb']) / (peer['peak_rss_mb'] - peer['rss_before_mb'])
    lines.append(f'  ratio  {ours["seconds"] / peer["seconds"]:>9.3f} '
                 f'{ours["peak_rss_mb"] / peer["peak_rss_mb"]:>12.3f} {above_imports:>17.3f}')
    for who, result in (('ours', ours), ('peer', peer)):
        if 'worker_private_mb' in result:
            private = result['worker_private_mb']
            lines.append(f'  {who}: with {len(private)} DataLoader workers, main RSS '
                         f'{result["main_rss_with_workers_mb"]:.0f} MB; private memory per worker '
                         f'{min(private):.0f}-{max(private):.0f} MB')
    return lines


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--datasets', nargs='+', choices=list(PEERS), default=list(PEERS))
    parser.add_argument('--places365-lines', type=int, default=8_026_628, help='Places365-Challenge: 8,026,628')
    parser.add_argument('--imagenet-lines', type=int, default=1_281_167, help='ImageNet-1k train: 1,281,167')
    parser.add_argument('--coco-images', type=int, default=118_287, help='COCO train2017: 118,287')
    parser.add_argument('--coco-boxes', type=int, default=860_001, help='COCO train2017: 860,001')
    parser.add_argument('--workers', type=int, default=0, help='DataLoader workers to start after the build')
    parser.add_argument('--rounds', type=int, default=1, help='builds of each, alternating; medians are printed')
    args = parser.parse_args()
    sections = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets:
            root = osp.join(tmp, name)
            if name == 'places365':
                write_places365(root, args.places365_lines)
            elif name == 'imagenet':
                write_imagenet(root, args.imagenet_lines)
            else:
                write_coco(root, args.coco_images, args.coco_boxes)
            runs: Dict[str, list] = {'ours': [], 'peer': []}
            for _ in range(args.rounds):
                for who, expression in zip(runs, PEERS[name]):
                    runs[who].append(run_child(expression, root, args.workers))
            sections.append('\n'.join(report(name, median_run(runs['ours']), median_run(runs['peer']))))
            print(sections[-1], flush=True)
    return '\n'.join(sections)


if __name__ == '__main__':
    if len(sys.argv) == 5 and sys.argv[1] == '--child':
        print(json.dumps(measure(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        from se_plugins.utils import run_cli
        run_cli(main)
