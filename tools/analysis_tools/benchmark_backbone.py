"""Speed and memory of our SE-ResNet-50 beside ResNet-50 and the peers' SE-ResNet-50, in one process.

    python tools/analysis_tools/benchmark_backbone.py [--rounds 9] [--settings infer:1 infer:32 train:16]
        [--dtypes fp32 bf16] [--channels-last off on] [--detection] [--size 224] [--threads 2]

Every model is an ImageNet classifier (1000 classes) with random weights: ours (SE on, SE off,
deploy mode, with_cp), mmpretrain's SEResNet/ResNet and timm's seresnet50/resnet50. In each
setting (inference batch N or training step batch N; dtype; memory format) the models are timed
interleaved, once per round; the tables give the median, min and max, and the ratios that matter.
``--detection`` adds Faster R-CNN SE-R50-FPN vs R50-FPN training steps under mmdet (the CPU demo
config, 128x128 generated images). Times are machine-dependent: compare ratios.

Timing one model after another lets the machine's state (other load, frequency, caches) drift
between them; here every round times each model once, in turn, so drift hits all of them alike,
and ratios of medians are what we report. Memory is the bytes of the tensors autograd saves for
the backward pass of one training step (the activations, what ``with_cp`` trades for time),
counted with ``torch.autograd.graph.saved_tensors_hooks``: exact and independent of the allocator.
"""
import argparse
import contextlib
import copy
import os.path as osp
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import timm
import torch
import torch.nn as nn

import se_plugins  # noqa: F401
from se_plugins.analysis import build_classifier
from se_plugins.utils import InputError, run_cli

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16}
NO_SE = (False, False, False, False)


@dataclass
class Timing:
    """Seconds of each round of one model in one setting."""
    seconds: List[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def step_function(model: nn.Module, mode: str, batch: int, size: int, dtype: torch.dtype,
                  channels_last: bool) -> Callable[[], None]:
    """One inference forward (``mode='infer'``) or one training step (``'train'``: forward,
    cross-entropy on random labels, backward) of a classifier ``model`` returning logits."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    images = torch.randn(batch, 3, size, size).to(memory_format=memory_format)
    autocast = (torch.autocast('cpu', dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext())
    if mode == 'infer':
        model.eval()

        def infer() -> None:
            with torch.inference_mode(), autocast:
                model(images)
        return infer
    model.train()
    labels = torch.randint(0, 10, (batch, ))

    def train() -> None:
        with autocast:
            loss = nn.functional.cross_entropy(model(images).float(), labels)
        loss.backward()
        model.zero_grad(set_to_none=True)
    return train


def interleaved(functions: Dict[str, Callable[[], None]], rounds: int, warmup: int = 1) -> Dict[str, Timing]:
    """Time each function once per round, in turn, after ``warmup`` untimed calls each."""
    for function in functions.values():
        for _ in range(warmup):
            function()
    timings = {name: Timing() for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            timings[name].seconds.append(time.perf_counter() - start)
    return timings


def saved_activation_bytes(model: nn.Module, function: Callable[[], None]) -> int:
    """Bytes of memory autograd keeps for the backward pass while ``function`` (a training step of
    ``model``) runs: each saved storage once, the model's parameters not counted."""
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: Dict[int, int] = {}

    def pack(tensor: torch.Tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        function()
    return sum(storages.values())


def classifiers() -> Dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    models = {
        'ours SE-R50': build_classifier(dict(type='se_plugins.SEResNet', depth=50)),
        'ours R50 (SE off)': build_classifier(dict(type='se_plugins.SEResNet', depth=50, se_stages=NO_SE)),
        'mmpretrain SE-R50': build_classifier(dict(type='mmpretrain.SEResNet', depth=50)),
        'mmpretrain R50': build_classifier(dict(type='mmpretrain.ResNet', depth=50)),
        'timm seresnet50': timm.create_model('seresnet50', pretrained=False),
        'timm resnet50': timm.create_model('resnet50', pretrained=False),
    }
    for name in ('ours SE-R50', 'ours R50 (SE off)'):
        deploy = copy.deepcopy(models[name])
        deploy.backbone.fuse()
        models[name.replace(' (SE off)', '') + ' deploy'] = deploy
    models['ours SE-R50 with_cp'] = build_classifier(dict(type='se_plugins.SEResNet', depth=50, with_cp=True))
    return models


def models_for(mode: str) -> List[str]:
    names = ['ours SE-R50', 'ours R50 (SE off)', 'mmpretrain SE-R50', 'mmpretrain R50', 'timm seresnet50',
             'timm resnet50']
    return names + (['ours SE-R50 deploy', 'ours R50 deploy'] if mode == 'infer' else ['ours SE-R50 with_cp'])


def ratio_lines(median: Dict[str, float], mode: str) -> List[str]:
    lines = [f'  SE cost (SE-R50 / R50):   ours {median["ours SE-R50"] / median["ours R50 (SE off)"]:.3f}   '
             f'mmpretrain {median["mmpretrain SE-R50"] / median["mmpretrain R50"]:.3f}   '
             f'timm {median["timm seresnet50"] / median["timm resnet50"]:.3f}',
             f'  ours SE-R50 / peers\' SE-R50:   / timm {median["ours SE-R50"] / median["timm seresnet50"]:.3f}   '
             f'/ mmpretrain {median["ours SE-R50"] / median["mmpretrain SE-R50"]:.3f}']
    fastest_peer = min(median['timm seresnet50'], median['mmpretrain SE-R50'])
    if mode == 'infer':
        lines.append(f'  ours deploy / faster peer SE-R50: {median["ours SE-R50 deploy"] / fastest_peer:.3f}   '
                     f'SE cost in deploy mode (SE-R50 / R50, both fused): '
                     f'{median["ours SE-R50 deploy"] / median["ours R50 deploy"]:.3f}')
    else:
        lines.append(f'  with_cp / without: time {median["ours SE-R50 with_cp"] / median["ours SE-R50"]:.3f}')
    return lines


def timing_rows(timings: Dict[str, Timing], width: int, extra: Optional[Dict[str, str]] = None) -> List[str]:
    """A table header and one row per model: median, min and max in ms, then ``extra[name]``."""
    rows = [f'  {"model":<{width}} {"median ms":>10} {"min":>8} {"max":>8}']
    for name, t in timings.items():
        rows.append(f'  {name:<{width}} {1e3 * t.median:>10.1f} {1e3 * min(t.seconds):>8.1f} '
                    f'{1e3 * max(t.seconds):>8.1f}' + (extra or {}).get(name, ''))
    return rows


def benchmark_classifiers(args) -> List[str]:
    models = classifiers()
    out = []
    for setting in args.settings:
        mode, _, batch = setting.partition(':')
        if mode not in ('infer', 'train') or not batch.isdigit():
            raise InputError(f'--settings {setting!r}: expected infer:<batch> or train:<batch>')
        for dtype_name in args.dtypes:
            for channels_last in args.channels_last:
                names = models_for(mode)
                steps = {name: step_function(models[name], mode, int(batch), args.size, DTYPES[dtype_name],
                                             channels_last == 'on') for name in names}
                timings = interleaved(steps, args.rounds)
                median = {name: timing.median for name, timing in timings.items()}
                out.append(f'\n{mode} batch {batch}, {dtype_name}, channels_last {channels_last}, '
                           f'{args.size}x{args.size}, {args.rounds} rounds')
                memory = ({name: saved_activation_bytes(models[name], steps[name]) for name in names}
                          if mode == 'train' else {})
                rows = timing_rows(timings, 22, {name: f'  {m / 2**20:>10.1f}' for name, m in memory.items()})
                out += [rows[0] + ('  saved for backward (MB)' if memory else ''), *rows[1:]]
                out += ratio_lines(median, mode)
                if memory:
                    saved = memory['ours SE-R50 with_cp'] / memory['ours SE-R50']
                    out.append(f'  with_cp / without: saved memory {saved:.3f}')
                for model in models.values():
                    model.to(memory_format=torch.contiguous_format)
    return out


def benchmark_detection(args) -> List[str]:
    """Faster R-CNN SE-R50-FPN vs R50-FPN (SE off) training steps, CPU demo config, batch 2."""
    from mmdet.registry import DATASETS, MODELS
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope

    from se_plugins.datasets import make_coco_detection

    with tempfile.TemporaryDirectory() as root, DefaultScope.overwrite_default_scope('mmdet'):
        make_coco_detection(root, num_train=2, num_val=1, image_size=128)
        cfg = Config.fromfile(osp.join(REPO, 'configs', 'faster_rcnn', 'faster-rcnn_se-r50_fpn_cpu-demo_shapes.py'))
        dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=root + '/'))
        batch = pseudo_collate([dataset[0], dataset[1]])
        detectors = {}
        for name, se_stages in (('Faster R-CNN SE-R50-FPN', (True, ) * 4), ('Faster R-CNN R50-FPN', NO_SE)):
            torch.manual_seed(0)
            model = MODELS.build(dict(cfg.model, backbone=dict(cfg.model.backbone, se_stages=se_stages)))
            detectors[name] = model.train()

        def step(model):
            def train_step() -> None:
                data = model.data_preprocessor(batch, True)
                loss, _ = model.parse_losses(model(**data, mode='loss'))
                loss.backward()
                model.zero_grad(set_to_none=True)
            return train_step

        timings = interleaved({name: step(model) for name, model in detectors.items()}, args.rounds)
    names = list(detectors)
    lines = [f'\nFaster R-CNN training step, batch 2, 128x128, fp32, {args.rounds} rounds', *timing_rows(timings, 26)]
    lines.append(f'  SE cost (SE-R50-FPN / R50-FPN): {timings[names[0]].median / timings[names[1]].median:.3f}')
    return lines


def main() -> List[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=9)
    parser.add_argument('--settings', nargs='+', default=['infer:1', 'infer:32', 'train:16'],
                        help='infer:<batch> and train:<batch> settings')
    parser.add_argument('--dtypes', nargs='+', choices=sorted(DTYPES), default=['fp32'])
    parser.add_argument('--channels-last', nargs='+', choices=['off', 'on'], default=['off'])
    parser.add_argument('--size', type=int, default=224, help='input height and width')
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    parser.add_argument('--detection', action='store_true', help='also Faster R-CNN training steps')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lines = [f'torch {torch.__version__}, {args.threads} threads']
    lines += benchmark_classifiers(args)
    if args.detection:
        lines += benchmark_detection(args)
    print('\n'.join(lines))
    return lines


if __name__ == '__main__':
    run_cli(main)
