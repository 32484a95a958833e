"""The model zoo: every config with its parameters, FLOPs and the paper's reference result.

One source for three outputs, written by ``tools/misc/model_zoo.py``: a mim ``metafile.yml`` per
config folder, ``model-index.yml`` importing them, and the README's model-zoo tables. No model has
been trained at full scale yet, and the tables say so.
"""
import glob
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional

import yaml
from mmengine.config import Config

from .complexity import build_counted_model, measure

PAPER = dict(Title='Squeeze-and-Excitation Networks', URL='https://arxiv.org/abs/1709.01507')
NOT_TRAINED = 'not trained yet'


@dataclass(frozen=True)
class Task:
    """A config folder and what its metafile and README table say."""
    folder: str
    collection: str
    task: str
    dataset: str
    paper_metric: str


TASKS = (
    Task('imagenet', 'SENet (ImageNet)', 'Image Classification', 'ImageNet-1k', 'top-1 / top-5 error (%)'),
    Task('places365', 'SENet (Places365)', 'Image Classification', 'Places365', 'top-1 / top-5 error (%)'),
    Task('faster_rcnn', 'Faster R-CNN with SE backbones', 'Object Detection', 'COCO', 'AP / AP50'),
)

# The paper's result for the experiment a config reproduces (Hu et al., TPAMI 2019; see
# ../shared/paper/senet_facts.md). The ablations are the paper's SE-ResNet-50 ablation runs.
PAPER_RESULTS: Dict[str, str] = {
    'se-resnet50_8xb128-paper_in1k': '23.29 / 6.62',
    'se-resnet101_8xb128-paper_in1k': '22.38 / 6.07',
    'se-resnet152_8xb128-paper_in1k': '21.57 / 5.73',
    'se-resnext50-32x4d_8xb128-paper_in1k': '21.10 / 5.49',
    'se-resnext101-32x4d_8xb128-paper_in1k': '20.70 / 5.01',
    'se-resnet50_8xb32_in1k': '22.26 / - (mmpretrain\'s SE-ResNet-50, not the paper)',
    'se-resnet50_ratio2_8xb128-paper_in1k': '22.29 / 6.00',
    'se-resnet50_ratio4_8xb128-paper_in1k': '22.25 / 6.09',
    'se-resnet50_ratio8_8xb128-paper_in1k': '22.26 / 5.99',
    'se-resnet50_ratio32_8xb128-paper_in1k': '22.72 / 6.20',
    'se-resnet50_squeeze-max_8xb128-paper_in1k': '22.57 / 6.09',
    'se-resnet50_gate-relu_8xb128-paper_in1k': '23.47 / 6.98',
    'se-resnet50_gate-tanh_8xb128-paper_in1k': '23.00 / 6.38',
    'se-resnet50_stage2_8xb128-paper_in1k': '23.03 / 6.48',
    'se-resnet50_stage3_8xb128-paper_in1k': '23.04 / 6.32',
    'se-resnet50_stage4_8xb128-paper_in1k': '22.68 / 6.22',
    'se-resnet50_placement-pre_8xb128-paper_in1k': '22.23 / 6.00',
    'se-resnet50_placement-post_8xb128-paper_in1k': '22.78 / 6.35',
    'se-resnet50_placement-identity_8xb128-paper_in1k': '22.20 / 6.15',
    'se-resnet50_placement-after3x3_8xb128-paper_in1k': '22.48 / 6.02',
    'se-resnet152_8xb32-ft_places365-challenge': '40.37 / 11.01 (Places365-Challenge)',
    'se-resnet152_8xb32-scratch_places365-challenge': '40.37 / 11.01 (Places365-Challenge)',
    'faster-rcnn_se-r50_fpn_1x_coco': '40.4 / 61.0 (minival)',
    'faster-rcnn_se-r101_fpn_1x_coco': '41.9 / 62.7 (minival)',
}


@dataclass
class ZooEntry:
    """One config of the zoo."""
    name: str
    config: str
    counted: str
    params: int
    flops: int
    paper_result: Optional[str]
    our_result: Optional[str] = None


# What we have measured ourselves.
OUR_RESULTS: Dict[str, str] = {
    'faster-rcnn_se-r50_fpn_cpu-demo_shapes': 'bbox mAP 0.68-0.71 on generated shapes, not COCO (`make demo`)',
}


def config_paths(configs_root: str, task: Task) -> List[str]:
    """The configs of ``task``'s folder, then of its subfolders (the ablations), relative to the
    repository."""
    folder = osp.join(configs_root, task.folder)
    paths = sorted(glob.glob(osp.join(folder, '*.py'))) + sorted(glob.glob(osp.join(folder, '*', '*.py')))
    return [osp.relpath(p, osp.dirname(configs_root)) for p in paths]


def measure_config(repo: str, config: str) -> ZooEntry:
    """Build a config's model with random weights and count it at 224x224: the parameters of the
    whole model, the FLOPs of a classifier or of a detector's backbone."""
    model, counted, what = build_counted_model(Config.fromfile(osp.join(repo, config)))
    params = sum(p.numel() for p in model.parameters())
    name = osp.splitext(osp.basename(config))[0]
    return ZooEntry(name, config, what, params, measure(counted).paper_flops, PAPER_RESULTS.get(name),
                    OUR_RESULTS.get(name))


def metafile(task: Task, entries: List[ZooEntry]) -> str:
    """A mim ``metafile.yml`` for the configs of one folder."""
    models = []
    for entry in entries:
        models.append({
            'Name': entry.name,
            'In Collection': task.collection,
            'Config': entry.config,
            'Metadata': {
                'Training Data': task.dataset,
                'Parameters': entry.params,
                'FLOPs': entry.flops,
                'FLOPs counted on': f'{entry.counted}, 224x224, convolutions and linear layers',
                'Paper Result': (f'{task.paper_metric}: {entry.paper_result}' if entry.paper_result
                                 else 'none for this configuration'),
            },
            'Results': [],  # no model has been trained on the dataset yet
            'Weights': None,
        })
    content = {
        'Collections': [{'Name': task.collection, 'Metadata': {'Training Data': task.dataset},
                         'Paper': PAPER, 'README': 'README.md'}],
        'Models': models,
    }
    header = '# Written by tools/misc/model_zoo.py: do not edit; run it after changing a config.\n'
    return header + yaml.safe_dump(content, sort_keys=False, width=120)


def model_index(tasks=TASKS) -> str:
    return yaml.safe_dump({'Import': [f'configs/{task.folder}/metafile.yml' for task in tasks]}, sort_keys=False)


def readme_tables(tasks_entries: Dict[Task, List[ZooEntry]]) -> str:
    """The README's model-zoo tables, one per task."""
    parts = []
    for task, entries in tasks_entries.items():
        flops = 'backbone GFLOPs' if task.task == 'Object Detection' else 'GFLOPs'
        parts += [f'**{task.dataset}** ({task.task.lower()})', '',
                  f'| config | params (M) | {flops} | paper {task.paper_metric} | ours |',
                  '|---|---:|---:|---|---|']
        for entry in entries:
            parts.append(f'| [{entry.name}]({entry.config}) | {entry.params / 1e6:.2f} | {entry.flops / 1e9:.2f} | '
                         f'{entry.paper_result or "-"} | {entry.our_result or NOT_TRAINED} |')
        parts.append('')
    return '\n'.join(parts).rstrip() + '\n'
