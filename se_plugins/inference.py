"""Predicting images from files, as mmpretrain's and mmdet's image demos do: an image, a folder or a glob; a model by
name or a config and its weights; batches, a device, a progress bar; predictions as JSON, detections drawn.

``tools/inference.py`` is its command line. Files that do not decode as images (a scraped folder has them) are
skipped and listed, not the end of the run.
"""
import contextlib
import glob
import json
import os
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.config import Config

from se_plugins.apis import inferencer as inferencer_by_name
from se_plugins.apis import list_models
from se_plugins.building import dataset_class, in_scope, task_scope
from se_plugins.engine.amp import float32_outputs, run_mmcv_ops_in_float32
from se_plugins.engine.checkpoint_fit import require_checkpoint_fit, unwrapped
from se_plugins.utils import InputError, MissingInputError, atomic_write
from se_plugins.utils.cpu_features import require_bf16_units

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')


def find_images(inputs: Sequence[str]) -> List[str]:
    """The image files ``inputs`` name: files, folders (every image in them, sorted, subfolders included) and glob
    patterns (``'photos/*.jpg'``, quoted so that the shell leaves it).

    Raises:
        MissingInputError: An input names nothing, or no image is found.
    """
    found: List[str] = []
    for item in inputs:
        if osp.isdir(item):
            found += sorted(osp.join(folder, name) for folder, _, names in os.walk(item) for name in names
                            if name.lower().endswith(IMAGE_SUFFIXES))
        elif osp.isfile(item):
            found.append(item)
        elif glob.has_magic(item):
            found += sorted(path for path in glob.glob(item, recursive=True) if osp.isfile(path))
        else:
            raise MissingInputError(f'{item} does not exist')
    if not found:
        raise MissingInputError(f'no image in {", ".join(inputs)} (image files end in {", ".join(IMAGE_SUFFIXES)})')
    return list(dict.fromkeys(found))


def check_device(device: str) -> str:
    """``device`` if torch can use it here, else one :class:`InputError` that says what it sees."""
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise InputError(f"--device {device}: not a device torch knows (cpu, cuda, cuda:1, ...)") from None
    if kind == 'cuda' and not torch.cuda.is_available():
        raise InputError(f'--device {device}: torch sees no CUDA device here (torch {torch.__version__}, CUDA build '
                         f'{torch.version.cuda or "none"}); use --device cpu')
    return device


def load_inferencer(model: str, weights: Optional[str], device: str):
    """mmpretrain's or mmdet's inferencer of ``model`` (a config file or one of our model names) with ``weights``
    (default for a name: its public weights), after checking that the weights fit the model entirely."""
    if not osp.isfile(model):
        if model.endswith('.py'):
            raise MissingInputError(f'{model} does not exist')
        loaded = inferencer_by_name(model, pretrained=weights or True, device=device, show_progress=False)
    else:
        if weights is None:
            raise InputError(f'{model}: a config needs its weights (a checkpoint file, or timm://...); or name one '
                             f'of our models instead, e.g. {list_models("se-resnet50*")[0]}')
        cfg = Config.fromfile(model)
        if task_scope(cfg) == 'mmdet':
            from mmdet.apis import DetInferencer
            loaded = DetInferencer(cfg, weights=weights, device=device, show_progress=False)
        else:
            from mmpretrain.apis import ImageClassificationInferencer
            with in_scope('mmpretrain'):
                loaded = ImageClassificationInferencer(cfg, pretrained=weights, device=device)
            if loaded.classes is None:  # the checkpoint carries no dataset_meta: the config's test dataset's
                dataset = cfg.test_dataloader.dataset
                classes = (dataset.get('metainfo') or {}).get('classes') or getattr(
                    dataset_class(dataset, 'mmpretrain'), 'METAINFO', {}).get('classes')
                loaded.classes = tuple(classes) if classes else None
    if weights is not None:
        require_checkpoint_fit(unwrapped(loaded.model), weights, 'weights')
    return loaded


def readable(paths: Sequence[str]) -> Tuple[List[str], List[str]]:
    """The paths that decode as images (OpenCV, as the inferencers read them), and those that do not."""
    good, bad = [], []
    for path in paths:
        image = cv2.imread(path)
        (good if image is not None and min(image.shape[:2]) > 1 else bad).append(path)
    return good, bad


def _batches(items: List[str], size: int) -> Iterator[List[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _classification(image: str, prediction: dict, classes: Optional[Sequence[str]], topk: int) -> dict:
    scores = np.asarray(prediction['pred_scores'])
    order = np.argsort(-scores)[:topk]
    name = (lambda i: classes[i]) if classes else str
    return dict(image=image, topk=[dict(label=int(i), name=name(int(i)), score=float(scores[i])) for i in order])


def _detection(image: str, prediction: dict, classes: Sequence[str], score_thr: float) -> dict:
    boxes = [dict(label=int(label), name=classes[label], score=float(score), box=[float(v) for v in box])
             for label, score, box in zip(prediction['labels'], prediction['scores'], prediction['bboxes'])
             if score >= score_thr]
    return dict(image=image, detections=boxes)


def predict(images: Sequence[str], inferencer, out_dir: str, batch_size: int = 1, topk: int = 5,
            score_thr: float = 0.3, progress: bool = True, amp: bool = False) -> dict:
    """Predict every image with ``inferencer`` in batches and write ``out_dir/predictions.json``.

    Args:
        images: Image files (:func:`find_images`).
        inferencer: :func:`load_inferencer`'s.
        out_dir: Where the JSON goes, and a detector's drawings (``out_dir/vis/``).
        batch_size: Images per forward pass.
        topk: Classes kept per image (classification).
        score_thr: The lowest score kept and drawn (detection).
        progress: Show a progress bar (on a terminal).
        amp: Mixed precision: fp16 autocast on a GPU, bf16 on a CPU with bf16 units (one error line on one
            without), the predictions in float32 (:mod:`se_plugins.engine.amp`).

    Returns:
        ``predictions`` (one dict per image), ``unreadable`` (files that are not images) and ``json``, its path.
    """
    from rich.progress import track
    good, bad = readable(images)
    detection = type(inferencer).__name__ == 'DetInferencer'
    classes = (inferencer.model.dataset_meta or {}).get('classes') if detection else inferencer.classes
    predictions: List[dict] = []
    batches = list(_batches(good, batch_size))
    precision = contextlib.nullcontext()
    if amp:
        device = next(inferencer.model.parameters()).device.type
        if device == 'cpu':
            require_bf16_units('--amp')
            run_mmcv_ops_in_float32()
        inferencer.model.register_forward_hook(float32_outputs)
        precision = torch.autocast(device, dtype=torch.bfloat16 if device == 'cpu' else torch.float16)
    with precision:
        for batch in track(batches, description='predicting', disable=not progress or len(good) <= batch_size):
            if detection:
                results = inferencer(batch, batch_size=batch_size, out_dir=out_dir, pred_score_thr=score_thr,
                                     no_save_pred=True)['predictions']
                predictions += [_detection(path, result, classes, score_thr) for path, result in zip(batch, results)]
            else:
                results = inferencer(batch, batch_size=batch_size)
                predictions += [_classification(path, result, classes, topk) for path, result in zip(batch, results)]
    path = osp.join(out_dir, 'predictions.json')
    content = json.dumps(dict(predictions=predictions, unreadable=bad), indent=1)
    atomic_write(path, lambda f: f.write(content.encode()))
    return dict(predictions=predictions, unreadable=bad, json=path)
