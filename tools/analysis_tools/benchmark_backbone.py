"""Speed and memory of our SE-ResNet-50 beside ResNet-50 and the peers' SE-ResNet-50, in one process.

    python tools/analysis_tools/benchmark_backbone.py [--rounds 9] [--settings infer:1 infer:32 train:16]
        [--dtypes fp32 bf16 fp16] [--channels-last off on] [--device auto] [--detection] [--no-onnx]
        [--size 224] [--threads 2]

Every model is an ImageNet classifier (1000 classes) with random weights: ours (SE on; SE on with autograd on
its submodules instead of its fused backward; SE off; deploy mode, whose weights are channels-last by
default, whatever --channels-last says of the others; with_cp), mmpretrain's SEResNet/ResNet and
timm's seresnet50/resnet50, and, at inference, our deploy-mode SE-R50 and R50 exported to ONNX and run by
each CPU runtime (onnxruntime and OpenVINO; CPU only). In each setting (inference batch N or training step
batch N; dtype; memory format) the models are timed interleaved, once per round; the tables give the median,
min and max, and the ratios that matter, each beside its target. ``--detection`` adds Faster R-CNN SE-R50-FPN
vs R50-FPN training steps under mmdet (the CPU demo config, 128x128 generated images). Times are
machine-dependent: compare ratios.

Timing one model after another lets the machine's state (other load, frequency, caches) drift
between them; here every round times each model once, in turn, so drift hits all of them alike,
and ratios of medians are what we report. Each round starts one model later than the last, so that
no model always runs first or after the same neighbour. Memory is the bytes of the tensors autograd saves for
the backward pass of one training step (the activations, what ``with_cp`` trades for time),
counted with ``torch.autograd.graph.saved_tensors_hooks``: exact and independent of the allocator.

On a GPU (``--device cuda``, or ``auto`` when one is visible) the models and inputs move to it,
``torch.backends.cudnn.benchmark`` is on, each model gets 5 warm-up calls, times are CUDA events around
each call (synchronised), and ``--dtypes fp16``/``bf16`` run under CUDA autocast (AMP). This path has not
run on a GPU here; on the CPU the tool is unchanged.
"""
import argparse
import contextlib
import copy
import os.path as osp
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import timm
import torch
import torch.nn as nn

import se_plugins  # noqa: F401
from se_plugins.analysis.memory import saved_activation_bytes
from se_plugins.building import build_classifier
from se_plugins.deployment import RUNTIMES
from se_plugins.models.layers import set_fused_backward
from se_plugins.utils import InputError, run_cli

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}
NO_SE = (False, False, False, False)
# The targets of the training-time SE and of deploy mode (issues 18 and 27); a ratio is printed beside its target.
TARGETS = {
    'train SE cost': 1.10,
    'train ours / best peer': 0.95,
    'train saved memory SE cost': 1.05,
    'infer deploy / faster peer': 0.90,
    'infer deploy SE cost': 1.03,
    'infer onnxruntime SE cost': 1.02,
    'infer onnxruntime / eager deploy': 0.80,
    'infer openvino SE cost': 1.05,
    'infer openvino / eager deploy': 0.80,
    # bf16 on a CPU with bf16 units (issue 41): ours in bf16 autocast over ours in fp32, interleaved
    'train bf16 / fp32': 0.65,
    'infer bf16 / fp32': 0.60,
}
# each runtime's two models: ours in deploy mode exported to ONNX, with and without SE
RUNTIME_SOURCES = {'SE-R50': 'ours SE-R50 deploy', 'R50': 'ours R50 deploy'}


@dataclass
class Timing:
    """Seconds of each round of one model in one setting."""
    seconds: List[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def wall_clock(function: Callable[[], None]) -> float:
    """Seconds ``function`` takes, by the CPU's clock."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def cuda_clock(function: Callable[[], None]) -> float:
    """Seconds ``function``'s GPU work takes: CUDA events around it, after the queue is drained."""
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    function()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1e3


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when a GPU is visible, else the CPU; ``cuda`` without one is an InputError."""
    if name == 'auto':
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    if name == 'cuda' and not torch.cuda.is_available():
        raise InputError('--device cuda: no CUDA device is visible (torch.cuda.is_available() is False)')
    return torch.device(name)


def step_function(model: nn.Module, mode: str, batch: int, size: int, dtype: torch.dtype,
                  channels_last: bool, device: torch.device = torch.device('cpu')) -> Callable[[], None]:
    """One inference forward (``mode='infer'``) or one training step (``'train'``: forward,
    cross-entropy on random labels, backward) of a classifier ``model`` returning logits, on ``device``
    (under autocast for a ``dtype`` other than float32). With ``channels_last`` the model and the
    images are converted to that layout; without, the images are contiguous and the model keeps its own."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    # without channels_last, each model keeps the layout it was built with (deploy mode's is channels-last)
    model = model.to(device=device, memory_format=memory_format) if channels_last else model.to(device)
    images = torch.randn(batch, 3, size, size).to(device=device, memory_format=memory_format)
    autocast = (torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext())
    if mode == 'infer':
        model.eval()

        def infer() -> None:
            with torch.inference_mode(), autocast:
                model(images)
        return infer
    model.train()
    labels = torch.randint(0, 10, (batch, ), device=device)

    def train() -> None:
        with autocast:
            loss = nn.functional.cross_entropy(model(images).float(), labels)
        loss.backward()
        model.zero_grad(set_to_none=True)
    return train


def runtime_step(run: Callable, batch: int, size: int) -> Callable[[], None]:
    """One inference of a runtime's ``run`` (:func:`se_plugins.deployment.runtime_function`) on a random batch."""
    images = torch.randn(batch, 3, size, size).numpy()
    return lambda: run(images)


def interleaved(functions: Dict[str, Callable[[], None]], rounds: int, warmup: int = 1,
                clock: Callable[[Callable[[], None]], float] = wall_clock) -> Dict[str, Timing]:
    """Time each function once per round, in turn, after ``warmup`` untimed calls each. Each round starts one
    function later than the one before (round ``r`` starts at function ``r mod n``), so that no function
    always runs first, or always right after the same one."""
    for function in functions.values():
        for _ in range(warmup):
            function()
    timings = {name: Timing() for name in functions}
    names = list(functions)
    for round_index in range(rounds):
        start = round_index % len(names)
        for name in names[start:] + names[:start]:
            timings[name].seconds.append(clock(functions[name]))
    return timings


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
    models['ours SE-R50 plain autograd'] = set_fused_backward(copy.deepcopy(models['ours SE-R50']), False)
    for name in ('ours SE-R50', 'ours R50 (SE off)'):
        deploy = copy.deepcopy(models[name])
        deploy.backbone.fuse()
        models[name.replace(' (SE off)', '') + ' deploy'] = deploy
    models['ours SE-R50 deploy contiguous'] = copy.deepcopy(models['ours SE-R50']).eval()
    models['ours SE-R50 deploy contiguous'].backbone.fuse(channels_last=False)
    models['ours SE-R50 with_cp'] = build_classifier(dict(type='se_plugins.SEResNet', depth=50, with_cp=True))
    return models


def runtime_models(models: Dict[str, nn.Module], size: int, threads: int, work_dir: str,
                   bf16: bool = False) -> Tuple[Dict[str, Callable], Dict[str, float]]:
    """Our deploy-mode SE-R50 and R50 exported to ONNX (dynamic batch) and loaded into each CPU runtime
    (``'onnxruntime SE-R50'``, ``'openvino R50'``, ...: functions of a batch of images); with ``bf16``, OpenVINO's
    bf16 inference of them too (``'openvino SE-R50 bf16'``: its default on CPUs with bf16 units), and each one's
    largest logit difference from its f32 inference on a batch of 2, relative to the largest f32 logit."""
    from se_plugins.deployment import export_onnx, runtime_function

    loaded, differences = {}, {}
    images = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0)).numpy()
    for label, source in RUNTIME_SOURCES.items():
        path = osp.join(work_dir, source.replace(' ', '_') + '.onnx')
        export_onnx(copy.deepcopy(models[source]).to(memory_format=torch.contiguous_format), path,
                    (1, 3, size, size))
        for runtime in RUNTIMES:  # onnxruntime without spinning into the next model
            loaded[f'{runtime} {label}'] = runtime_function(path, runtime, threads, spinning=False)
        if bf16 and 'openvino' in RUNTIMES:
            loaded[f'openvino {label} bf16'] = runtime_function(path, 'openvino', threads, precision='bf16')
            low, full = loaded[f'openvino {label} bf16'](images)[0], loaded[f'openvino {label}'](images)[0]
            differences[f'openvino {label}'] = float(np.abs(low - full).max() / np.abs(full).max())
    return loaded, differences


def models_for(mode: str) -> List[str]:
    names = ['ours SE-R50', 'ours R50 (SE off)', 'mmpretrain SE-R50', 'mmpretrain R50', 'timm seresnet50',
             'timm resnet50']
    if mode == 'infer':
        return names + ['ours SE-R50 deploy', 'ours R50 deploy', 'ours SE-R50 deploy contiguous']
    return names + ['ours SE-R50 plain autograd', 'ours SE-R50 with_cp']


def against(value: float, target: str) -> str:
    """``value`` with three decimals, beside its target and whether it meets it."""
    limit = TARGETS[target]
    return f'{value:.3f} (target <= {limit:.2f}: {"met" if value <= limit else "not met"})'


def ratio_lines(median: Dict[str, float], mode: str, memory: Optional[Dict[str, int]] = None) -> List[str]:
    ours_se_cost = median['ours SE-R50'] / median['ours R50 (SE off)']
    peers_se_cost = (f'mmpretrain {median["mmpretrain SE-R50"] / median["mmpretrain R50"]:.3f}   '
                     f'timm {median["timm seresnet50"] / median["timm resnet50"]:.3f}')
    fastest_peer = min(median['timm seresnet50'], median['mmpretrain SE-R50'])
    versus_peers = (f'  ours SE-R50 / peers\' SE-R50:   / timm {median["ours SE-R50"] / median["timm seresnet50"]:.3f}'
                    f'   / mmpretrain {median["ours SE-R50"] / median["mmpretrain SE-R50"]:.3f}')
    if mode == 'infer':
        lines = [f'  SE cost (SE-R50 / R50):   ours {ours_se_cost:.3f}   {peers_se_cost}', versus_peers,
                 f'  ours deploy / faster peer SE-R50: '
                 f'{against(median["ours SE-R50 deploy"] / fastest_peer, "infer deploy / faster peer")}   '
                 f'SE cost in deploy mode (SE-R50 / R50, both fused): '
                 f'{against(median["ours SE-R50 deploy"] / median["ours R50 deploy"], "infer deploy SE cost")}',
                 f'  deploy mode, channels-last (its default) / contiguous weights: '
                 f'{median["ours SE-R50 deploy"] / median["ours SE-R50 deploy contiguous"]:.3f}']
        for runtime in RUNTIMES:
            if f'{runtime} SE-R50' in median:
                se_cost = median[f'{runtime} SE-R50'] / median[f'{runtime} R50']
                eager = median[f'{runtime} SE-R50'] / median['ours SE-R50 deploy']
                lines.append(f'  {runtime} SE cost (SE-R50 / R50, both exported in deploy mode): '
                             f'{against(se_cost, f"infer {runtime} SE cost")}   {runtime} / eager, deploy SE-R50: '
                             f'{against(eager, f"infer {runtime} / eager deploy")}')
        return lines
    plain = median['ours SE-R50 plain autograd']
    lines = [f'  SE cost (SE-R50 / R50):   ours {against(ours_se_cost, "train SE cost")}   '
             f'ours with plain autograd {plain / median["ours R50 (SE off)"]:.3f}   {peers_se_cost}', versus_peers,
             f'  ours SE-R50 / best peer SE-R50: '
             f'{against(median["ours SE-R50"] / fastest_peer, "train ours / best peer")}   '
             f'fused / plain autograd: {median["ours SE-R50"] / plain:.3f}',
             f'  with_cp / without: time {median["ours SE-R50 with_cp"] / median["ours SE-R50"]:.3f}']
    if memory:
        se_memory = memory['ours SE-R50'] / memory['ours R50 (SE off)']
        lines += [f'  saved for backward, SE-R50 / R50: ours {against(se_memory, "train saved memory SE cost")}   '
                  f'ours with plain autograd {memory["ours SE-R50 plain autograd"] / memory["ours R50 (SE off)"]:.3f}'
                  f'   mmpretrain {memory["mmpretrain SE-R50"] / memory["mmpretrain R50"]:.3f}   '
                  f'timm {memory["timm seresnet50"] / memory["timm resnet50"]:.3f}',
                  f'  with_cp / without: saved memory {memory["ours SE-R50 with_cp"] / memory["ours SE-R50"]:.3f}']
    return lines


def timing_rows(timings: Dict[str, Timing], width: int, extra: Optional[Dict[str, str]] = None) -> List[str]:
    """A table header and one row per model: median, min and max in ms, then ``extra[name]``."""
    rows = [f'  {"model":<{width}} {"median ms":>10} {"min":>8} {"max":>8}']
    for name, t in timings.items():
        rows.append(f'  {name:<{width}} {1e3 * t.median:>10.1f} {1e3 * min(t.seconds):>8.1f} '
                    f'{1e3 * max(t.seconds):>8.1f}' + (extra or {}).get(name, ''))
    return rows


def parse_settings(settings: List[str]) -> List[Tuple[str, int]]:
    """``['infer:1', 'train:16']`` as ``[('infer', 1), ('train', 16)]``; anything else is an InputError."""
    parsed = []
    for setting in settings:
        mode, _, batch = setting.partition(':')
        if mode not in ('infer', 'train') or not batch.isdigit() or int(batch) < 1:
            raise InputError(f'--settings {setting!r}: expected infer:<batch> or train:<batch>, batch >= 1')
        parsed.append((mode, int(batch)))
    return parsed


def precision_lines(median: Dict[str, float], names: List[str], mode: str, low: str) -> List[str]:
    """Each model's time in ``low`` precision (bf16, fp16) over its fp32 time, measured interleaved."""
    ratios = {name: median[f'{name} {low}'] / median[f'{name} fp32'] for name in names}
    target = f'{mode} {low} / fp32'
    ours = against(ratios['ours SE-R50'], target) if target in TARGETS else f'{ratios["ours SE-R50"]:.3f}'
    return [f'  {low} / fp32, each model against itself: ours SE-R50 {ours}',
            '    ' + '   '.join(f'{name} {ratio:.3f}' for name, ratio in ratios.items() if name != 'ours SE-R50')]


def benchmark_classifiers(args, device: torch.device) -> List[str]:
    """Every classifier in each setting; with several dtypes, every (model, dtype) interleaved in one set, so
    that each model's low-precision time over its fp32 time is measured side by side."""
    models = classifiers()
    clock, warmup = (cuda_clock, 5) if device.type == 'cuda' else (wall_clock, 1)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    out = []
    with tempfile.TemporaryDirectory() as work_dir:
        exported, exported_difference = {}, {}
        if args.onnx and device.type == 'cpu' and any(s.startswith('infer') for s in args.settings):
            exported, exported_difference = runtime_models(models, args.size, args.threads, work_dir,
                                                           'bf16' in args.dtypes)
        for mode, batch in parse_settings(args.settings):
            for channels_last in args.channels_last:
                names = models_for(mode)
                steps = {f'{name} {dtype}': step_function(models[name], mode, batch, args.size, DTYPES[dtype],
                                                          channels_last == 'on', device)
                         for dtype in args.dtypes for name in names}
                if mode == 'infer' and 'fp32' in args.dtypes:
                    steps.update({f'{name} fp32': runtime_step(run, batch, args.size) for name, run in exported.items()
                                  if not name.endswith(' bf16')})
                    steps.update({f'{name[:-5]} bf16': runtime_step(run, batch, args.size)
                                  for name, run in exported.items() if name.endswith(' bf16')})
                timings = interleaved(steps, args.rounds, warmup, clock)
                all_medians = {name: timing.median for name, timing in timings.items()}
                for dtype in args.dtypes:
                    own = {name[:-len(dtype) - 1]: timing for name, timing in timings.items()
                           if name.endswith(f' {dtype}')}
                    median = {name: timing.median for name, timing in own.items()}
                    out.append(f'\n{mode} batch {batch}, {dtype}, channels_last {channels_last}, '
                               f'{args.size}x{args.size}, {device.type}, {args.rounds} rounds'
                               + (f', interleaved with {", ".join(d for d in args.dtypes if d != dtype)}'
                                  if len(args.dtypes) > 1 else ''))
                    memory = ({name: saved_activation_bytes(models[name], steps[f'{name} {dtype}']) for name in names}
                              if mode == 'train' else {})
                    rows = timing_rows(own, 26, {name: f'  {m / 2**20:>10.1f}' for name, m in memory.items()})
                    out += [rows[0] + ('  saved for backward (MB)' if memory else ''), *rows[1:]]
                    out += ratio_lines(median, mode, memory)
                    if dtype != 'fp32' and 'fp32' in args.dtypes:
                        out += precision_lines(all_medians, names, mode, dtype)
                        runtime_low = [n for n in exported if n.endswith(' bf16')]
                        if mode == 'infer' and dtype == 'bf16' and runtime_low:
                            for name in runtime_low:
                                base = name[:-5]
                                speed = all_medians[f'{base} bf16'] / all_medians[f'{base} fp32']
                                out.append(f'  {base} bf16 / f32: {speed:.3f}   largest logit difference, bf16 - '
                                           f'f32, relative to the largest f32 logit: {exported_difference[base]:.4f}')
                for name, model in models.items():  # back to the layout each was built with
                    model.to(memory_format=torch.channels_last if name.endswith(' deploy') else torch.contiguous_format)
    return out


def benchmark_detection(args) -> List[str]:
    """Faster R-CNN SE-R50-FPN vs R50-FPN (SE off) training steps, CPU demo config, batch 2."""
    from mmdet.registry import DATASETS, MODELS
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate

    from se_plugins.building import in_scope
    from se_plugins.datasets import make_coco_detection

    with tempfile.TemporaryDirectory() as root, in_scope('mmdet'):
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
    parser.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto',
                        help='auto: the GPU when there is one')
    parser.add_argument('--no-onnx', dest='onnx', action='store_false',
                        help='leave out the runtimes\' models (onnxruntime, OpenVINO) at inference (CPU only)')
    parser.add_argument('--detection', action='store_true', help='also Faster R-CNN training steps (CPU)')
    args = parser.parse_args()
    device = resolve_device(args.device)
    parse_settings(args.settings)  # bad settings end the run before anything is built
    torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{args.threads} threads'
    lines = [f'torch {torch.__version__}, {where}']
    lines += benchmark_classifiers(args, device)
    if args.detection:
        lines += benchmark_detection(args)
    print('\n'.join(lines))
    return lines


if __name__ == '__main__':
    run_cli(main)
