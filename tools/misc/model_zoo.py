"""Write the model zoo: configs/<task>/metafile.yml and README.md tables, model-index.yml (and its one-file form,
se_plugins/model-index.json, which the package registers with mmpretrain's model hub), README's summary.

    python tools/misc/model_zoo.py           # after adding or changing a config
    python tools/misc/model_zoo.py --check   # exit 1 if a file is out of date (the tests run this)

Every config's model is built with random weights and counted at 224x224 (tools/analysis_tools/get_flops.py):
the parameters of the whole model, the FLOPs of a classifier or of a detector's backbone. The paper's results
live here and nowhere else (Hu et al., TPAMI 2019; ../shared/paper/senet_facts.md in the project's workspace).
No model has been trained at full scale yet, and the tables say so.
"""
import argparse
import glob
import json
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional

import yaml
from mmengine.config import Config

import se_plugins  # noqa: F401
from se_plugins.analysis import build_counted_model, measure
from se_plugins.utils import InputError, atomic_write, run_cli

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BEGIN, END = '<!-- model-zoo:begin -->\n', '<!-- model-zoo:end -->\n'
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
    Task('retinanet', 'RetinaNet with SE backbones', 'Object Detection', 'COCO', 'AP / AP50'),
    Task('mask_rcnn', 'Mask R-CNN with SE backbones', 'Instance Segmentation', 'COCO', 'AP / AP50'),
    Task('se_plugin', 'Faster R-CNN with SE plugins', 'Object Detection', 'COCO', 'AP / AP50'),
    Task('own_data', 'SE-ResNet-50 fine-tuned on your images', 'Image Classification', 'your images',
         'top-1 accuracy (%)'),
)

# The paper's result for the experiment a config reproduces. The ablations are the paper's SE-ResNet-50
# ablation runs.
PAPER_RESULTS: Dict[str, str] = {
    'se-resnet50_8xb128-paper_in1k': '23.29 / 6.62',
    'se-resnet101_8xb128-paper_in1k': '22.38 / 6.07',
    'se-resnet152_8xb128-paper_in1k': '21.57 / 5.73',
    'se-resnext50-32x4d_8xb128-paper_in1k': '21.10 / 5.49',
    'se-resnext101-32x4d_8xb128-paper_in1k': '20.70 / 5.01',
    'se-resnet50_8xb32_in1k': '22.26 / - (mmpretrain\'s SE-ResNet-50, not the paper)',
    'se-vgg16-bn_8xb128-paper_in1k': '25.22 / 7.70 (VGG-16: 27.02 / 8.81)',
    'se-bninception_8xb128-paper_in1k': '24.23 / 7.14 (BN-Inception: 25.38 / 7.89)',
    'se-inception-resnet-v2_8xb128-paper_in1k': '19.80 / 4.79 (Inception-ResNet-v2: 20.37 / 5.21)',
    'se-mobilenet-v1_8xb32-paper_in1k': '25.3 / 7.9 (MobileNet: 29.1 / 10.1)',
    'se-shufflenet-v1-1x-g3_8xb32-paper_in1k': '31.7 / 11.7 (ShuffleNet: 33.9 / 13.6)',
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
    'se-resnet152_8xb32-scratch_places365-challenge': '40.37 / 11.01 (Places365-Challenge; ResNet-152: 41.15 / 11.61)',
    'faster-rcnn_se-r50_fpn_1x_coco': '40.4 / 61.0 (minival)',
    'faster-rcnn_se-r101_fpn_1x_coco': '41.9 / 62.7 (minival)',
}

# Public ImageNet weights whose network is exactly the config's model (converted as they load, by
# se_plugins.weights; tests/test_apis.py checks that every tensor fits): what get_model(name, pretrained=True) loads.
WEIGHTS: Dict[str, str] = {
    'se-resnet50_8xb32_in1k': 'timm://seresnet50.a1_in1k',
    'se-resnet50_8xb128-paper_in1k': 'timm://seresnet50.a1_in1k',
    'se-resnext50-32x4d_8xb128-paper_in1k': 'timm://seresnext50_32x4d.racm_in1k',
    'se-resnext101-32x4d_8xb128-paper_in1k': 'timm://seresnext101_32x4d.gluon_in1k',
    'senet154_8xb128-paper_in1k': 'timm://senet154.gluon_in1k',
}

# What we have measured ourselves.
OUR_RESULTS: Dict[str, str] = {
    'faster-rcnn_se-r50_fpn_cpu-demo_shapes': 'bbox mAP 0.68-0.71 on generated shapes, not COCO (`make demo`)',
    'faster-rcnn_regnetx-400MF-se_fpn_cpu-demo_shapes': 'bbox mAP 0.45 (64 train images) and 0.59 (128) on '
                                                        'generated shapes, not COCO (tests)',
    'se-resnet50_ft_folders': 'top-1 100 % on 3 generated classes (12 val images) after 4 epochs, random weights '
                              "in place of timm's (tests, docs/own_data.md)",
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


def config_paths(configs_root: str, task: Task) -> List[str]:
    """The configs of ``task``'s folder, then of its subfolders (the ablations), relative to the repository."""
    folder = osp.join(configs_root, task.folder)
    paths = sorted(glob.glob(osp.join(folder, '*.py'))) + sorted(glob.glob(osp.join(folder, '*', '*.py')))
    return [osp.relpath(p, osp.dirname(configs_root)) for p in paths]


def measure_config(repo: str, config: str) -> ZooEntry:
    """Build a config's model with random weights and count it at 224x224."""
    model, counted, what = build_counted_model(Config.fromfile(osp.join(repo, config)))
    params = sum(p.numel() for p in model.parameters())
    name = osp.splitext(osp.basename(config))[0]
    return ZooEntry(name, config, what, params, measure(counted).paper_flops, PAPER_RESULTS.get(name),
                    OUR_RESULTS.get(name))


def metafile(task: Task, entries: List[ZooEntry]) -> str:
    """A mim ``metafile.yml`` for the configs of one folder."""
    models = [{
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
        'Weights': WEIGHTS.get(entry.name),
    } for entry in entries]
    content = {
        'Collections': [{'Name': task.collection, 'Metadata': {'Training Data': task.dataset},
                         'Paper': PAPER, 'README': f'configs/{task.folder}/README.md'}],
        'Models': models,
    }
    header = '# Written by tools/misc/model_zoo.py: do not edit; run it after changing a config.\n'
    return header + yaml.safe_dump(content, sort_keys=False, width=120)


def model_index(tasks=TASKS) -> str:
    return yaml.safe_dump({'Import': [f'configs/{task.folder}/metafile.yml' for task in tasks]}, sort_keys=False)


def model_index_json(metafiles: List[str]) -> str:
    """Every metafile's collections and models in one JSON file (what se_plugins.apis registers)."""
    index: Dict[str, list] = {'Collections': [], 'Models': []}
    for text in metafiles:
        content = yaml.safe_load(text)
        for key in index:
            index[key] += content[key]
    return json.dumps(index, indent=1) + '\n'


def task_table(task: Task, entries: List[ZooEntry]) -> str:
    """A task README's model-zoo table, its links relative to the task's folder."""
    flops = 'backbone GFLOPs' if task.dataset == 'COCO' else 'GFLOPs'
    lines = [f'| config | params (M) | {flops} | paper {task.paper_metric} | ours | public weights |',
             '|---|---:|---:|---|---|---|']
    for entry in entries:
        link = osp.relpath(entry.config, osp.join('configs', task.folder))
        weights = f'`{WEIGHTS[entry.name]}`' if entry.name in WEIGHTS else '-'
        lines.append(f'| [{entry.name}]({link}) | {entry.params / 1e6:.2f} | {entry.flops / 1e9:.2f} | '
                     f'{entry.paper_result or "-"} | {entry.our_result or NOT_TRAINED} | {weights} |')
    return '\n'.join(lines) + '\n'


def summary_table(tasks_entries: Dict[Task, List[ZooEntry]]) -> str:
    """README's model-zoo summary: one row per task folder."""
    lines = ['| task | dataset | configs | with a paper result | trained here |', '|---|---|---:|---:|---|']
    for task, entries in tasks_entries.items():
        ours = '; '.join(e.our_result for e in entries if e.our_result) or NOT_TRAINED
        lines.append(f'| [{task.collection}](configs/{task.folder}/README.md) | {task.dataset} | {len(entries)} | '
                     f'{sum(e.paper_result is not None for e in entries)} | {ours} |')
    return '\n'.join(lines) + '\n'


def _between_markers(path: str, table: str) -> str:
    """The file at ``path`` with ``table`` between its model-zoo markers."""
    if not osp.isfile(path):
        raise InputError(f'{path} does not exist; it needs one {BEGIN.strip()} and one {END.strip()} line')
    with open(path) as f:
        text = f.read()
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise InputError(f'{path}: needs one {BEGIN.strip()} and one {END.strip()} line around the table')
    head, rest = text.split(BEGIN)
    return head + BEGIN + table + END + rest.split(END)[1]


def expected_files(repo: str) -> Dict[str, str]:
    """Each generated file's path and content."""
    tasks_entries = {task: [measure_config(repo, config) for config in config_paths(osp.join(repo, 'configs'), task)]
                     for task in TASKS}
    files = {}
    for task, entries in tasks_entries.items():
        folder = osp.join(repo, 'configs', task.folder)
        files[osp.join(folder, 'metafile.yml')] = metafile(task, entries)
        readme = osp.join(folder, 'README.md')
        files[readme] = _between_markers(readme, task_table(task, entries))
    files[osp.join(repo, 'model-index.yml')] = model_index()
    files[osp.join(repo, 'se_plugins', 'model-index.json')] = model_index_json(
        [files[osp.join(repo, 'configs', task.folder, 'metafile.yml')] for task in TASKS])
    files[osp.join(repo, 'README.md')] = _between_markers(osp.join(repo, 'README.md'), summary_table(tasks_entries))
    return files


def stale_files(repo: str, write: bool) -> List[str]:
    """The generated files of ``repo`` that are out of date, rewritten if ``write``."""
    stale = []
    for path, content in expected_files(repo).items():
        current = open(path).read() if osp.isfile(path) else None
        if current != content:
            stale.append(osp.relpath(path, repo))
            if write:
                atomic_write(path, lambda f: f.write(content.encode()))
    return stale


def main() -> List[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='write nothing; exit 1 if a file is out of date')
    args = parser.parse_args()
    stale = stale_files(REPO, write=not args.check)
    if args.check and stale:
        raise InputError(f'out of date: {", ".join(stale)}; run python tools/misc/model_zoo.py')
    print('updated: ' + ', '.join(stale) if stale else 'the model zoo is up to date')
    return stale


if __name__ == '__main__':
    run_cli(main)
