"""Deploy mode's export: a classifier or a detector to ONNX, checked against PyTorch in a CPU runtime
(onnxruntime or OpenVINO, :data:`RUNTIMES`).

The exported graph takes a batch of normalised images, ``(N, 3, H, W)`` float32 (``images``; the batch is
dynamic unless asked otherwise) and holds what a config's ``data_preprocessor`` does not: its mean, std and
channel order are written into the ONNX file's metadata (``mean``, ``std``, ``to_rgb``), for the code that
feeds it. A classifier's graph returns its logits (``logits``, ``(N, classes)``). A detector's graph is its
dense part, as mmdet's ``mode='tensor'`` computes it up to the first data-dependent step: the backbone and
neck features (``feat0`` ...) and the dense head's raw per-level outputs (``cls_score0`` ..., ``bbox_pred0``
...; the RPN's for a two-stage detector). Box decoding, NMS and a two-stage detector's RoI head run in mmdet
(``head.predict_by_feat`` on these outputs); they need mmcv's custom ops, which onnxruntime does not have.
"""
import importlib
import json
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from se_plugins.utils import InputError

OPSET = 18
# The CPU runtimes that run the exported file (docs/deploy.md compares them): each module's name is its PyPI package's.
RUNTIMES = ('onnxruntime', 'openvino')


class ClassifierForExport(nn.Module):
    """An mmpretrain classifier's logits from normalised images (its ``mode='tensor'`` forward)."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def output_names(self, num_outputs: int) -> List[str]:
        return ['logits']

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(images, mode='tensor')


class DetectorForExport(nn.Module):
    """An mmdet detector's dense part: its features and its dense head's raw outputs, flat."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector
        self.head = detector.rpn_head if getattr(detector, 'with_rpn', False) else detector.bbox_head

    def output_names(self, num_outputs: int) -> List[str]:
        levels = range(num_outputs // 3)
        return [f'{kind}{level}' for kind in ('feat', 'cls_score', 'bbox_pred') for level in levels]

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        features = self.detector.extract_feat(images)
        cls_scores, bbox_preds = self.head(features)[:2]
        return (*features, *cls_scores, *bbox_preds)


def _exported_module(model: nn.Module) -> nn.Module:
    """What export traces for ``model``, in eval mode: its wrapper if it is a classifier or a detector, else
    itself."""
    module = for_export(model) if hasattr(model, 'extract_feat') else model
    module.eval()
    return module


def for_export(model: nn.Module) -> nn.Module:
    """The wrapper of ``model`` (an mmpretrain classifier or an mmdet detector) that export traces."""
    if hasattr(model, 'extract_feat') and (hasattr(model, 'rpn_head') or hasattr(model, 'bbox_head')):
        return DetectorForExport(model)
    if hasattr(model, 'extract_feat') and hasattr(model, 'head'):
        return ClassifierForExport(model)
    raise InputError(f'cannot export a {type(model).__name__}: expected an mmpretrain classifier or an mmdet '
                     f'detector')


def preprocessing_metadata(data_preprocessor: Optional[dict]) -> Dict[str, str]:
    """The normalisation a config's ``data_preprocessor`` applies, as ONNX metadata strings."""
    cfg = data_preprocessor or {}
    to_rgb = cfg.get('to_rgb', cfg.get('bgr_to_rgb', False))
    return {'mean': json.dumps(list(cfg.get('mean', [0.0, 0.0, 0.0]))),
            'std': json.dumps(list(cfg.get('std', [1.0, 1.0, 1.0]))),
            'to_rgb': json.dumps(bool(to_rgb))}


def export_onnx(model: nn.Module,
                path: str,
                input_shape: Sequence[int] = (1, 3, 224, 224),
                opset: int = OPSET,
                dynamic_batch: bool = True,
                metadata: Optional[Dict[str, str]] = None) -> List[str]:
    """Export ``model`` (a classifier, a detector, or a module mapping images to tensors) to ONNX.

    Args:
        model: The model, in the state to export (deploy mode: ``model.backbone.fuse()`` first).
        path: The ``.onnx`` file to write.
        input_shape: The example input's shape ``(N, 3, H, W)``; ``H`` and ``W`` are fixed in the graph.
        opset: The ONNX opset.
        dynamic_batch: Let the batch size vary (else it is ``N``).
        metadata: Strings written into the file's ``metadata_props``.

    Returns:
        The names of the graph's outputs.
    """
    import onnx

    module = _exported_module(model)
    images = torch.randn(*input_shape)
    with torch.no_grad():
        outputs = module(images)
    outputs = outputs if isinstance(outputs, tuple) else (outputs, )
    names = (module.output_names(len(outputs)) if hasattr(module, 'output_names') else
             [f'output{index}' for index in range(len(outputs))])
    dynamic_axes = {name: {0: 'batch'} for name in ['images', *names]} if dynamic_batch else None
    with torch.no_grad():
        torch.onnx.export(module, (images, ), path, input_names=['images'], output_names=names,
                          opset_version=opset, dynamic_axes=dynamic_axes, dynamo=False)
    graph = onnx.load(path)
    for key, value in (metadata or {}).items():
        graph.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(graph)
    onnx.save(graph, path)
    return names


def import_runtime(runtime: str):
    """The module of a CPU runtime of :data:`RUNTIMES`; one clear error if it is unknown or not installed."""
    if runtime not in RUNTIMES:
        raise InputError(f'runtime {runtime!r}: expected one of {", ".join(RUNTIMES)}')
    try:
        return importlib.import_module(runtime)
    except ModuleNotFoundError as error:
        raise InputError(f'the {runtime} runtime is not installed (pip install {runtime}, or '
                         f'pip install "se-plugins-openmmlab[deploy]" for both)') from error


def onnxruntime_session(path: str, threads: Optional[int] = None, spinning: bool = True):
    """An onnxruntime CPU session on ``path``.

    Args:
        path: The ``.onnx`` file.
        threads: Intra-op threads (default: onnxruntime's, one per core).
        spinning: Let idle threads spin-wait for the next run (onnxruntime's default: lower latency, but
            the spinning threads take the cores from whatever runs next in the process, e.g. when timing
            other models beside it).
    """
    onnxruntime = import_runtime('onnxruntime')
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if not spinning:
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return onnxruntime.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def openvino_model(path: str, threads: Optional[int] = None, precision: str = 'f32'):
    """An OpenVINO model compiled for the CPU from the ``.onnx`` file ``path``.

    Args:
        path: The ``.onnx`` file (OpenVINO reads ONNX directly).
        threads: Inference threads (default: OpenVINO's, one per core).
        precision: ``'f32'`` (the default here: on CPUs with bf16 units OpenVINO would otherwise infer in bf16,
            outputs 1e-2 apart from PyTorch's) or ``'bf16'`` (OpenVINO's own default on such CPUs).
    """
    openvino = import_runtime('openvino')
    config = {'INFERENCE_PRECISION_HINT': precision, 'PERFORMANCE_HINT': 'LATENCY'}
    if threads:
        config['INFERENCE_NUM_THREADS'] = threads
    core = openvino.Core()
    # The CPU plugin's library is loaded here, before compile_model starts its threads: loaded inside
    # compile_model in a process that holds onnxruntime, glibc's TLS set-up raced with a new thread ('Inconsistency
    # detected by ld.so: dl-tls.c: _dl_allocate_tls_init', 3 of 8 benchmark runs; 0 of 18 this way).
    core.get_versions('CPU')
    return core.compile_model(path, 'CPU', config)


def runtime_function(path: str, runtime: str = 'onnxruntime', threads: Optional[int] = None,
                     spinning: bool = True, precision: str = 'f32') -> Callable[[np.ndarray], List[np.ndarray]]:
    """A function that runs the ``.onnx`` file ``path`` in ``runtime`` on a batch of images (float32
    ``(N, 3, H, W)``) and returns the graph's outputs in order.

    Args:
        path: The ``.onnx`` file.
        runtime: One of :data:`RUNTIMES`.
        threads: Intra-op threads (default: the runtime's, one per core).
        spinning: onnxruntime only: see :func:`onnxruntime_session`.
        precision: OpenVINO only: see :func:`openvino_model`.
    """
    import_runtime(runtime)
    if runtime == 'onnxruntime':
        session = onnxruntime_session(path, threads, spinning)
        return lambda images: session.run(None, {'images': images})
    request = openvino_model(path, threads, precision).create_infer_request()

    def infer(images: np.ndarray) -> List[np.ndarray]:
        request.infer({'images': images})
        return [tensor.data.copy() for tensor in request.output_tensors]

    return infer


def max_output_difference(path: str, model: nn.Module, images: torch.Tensor, runtime: str = 'onnxruntime') -> float:
    """The largest absolute difference between ``runtime``'s outputs of ``path`` on ``images`` and the
    PyTorch ``model``'s (the module that was exported, or the classifier or detector it wraps)."""
    with torch.no_grad():
        expected = _exported_module(model)(images)
    expected = expected if isinstance(expected, tuple) else (expected, )
    got = runtime_function(path, runtime)(images.numpy())
    if len(got) != len(expected):
        raise InputError(f'{path}: {len(got)} outputs, the model has {len(expected)}')
    return max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected))
