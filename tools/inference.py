"""Run a trained model on an image: the top-k classes (ImageNet, Places365 configs), or the
detections drawn on the image (COCO configs), with mmpretrain's and mmdet's inferencers.

    python tools/inference.py IMAGE CONFIG CHECKPOINT [--topk 5] [--out-dir work_dirs/inference] [--score-thr 0.3]

Classification prints ``rank, score, class``; detection prints one line per box above
``--score-thr`` and writes the drawn image to ``OUT_DIR/vis/`` and the boxes to ``OUT_DIR/preds/``.
"""
import argparse
import os.path as osp
from typing import List, Tuple, Union

import numpy as np
from mmengine.config import Config

import se_plugins  # noqa: F401
from se_plugins.building import dataset_class, in_scope, task_scope
from se_plugins.engine import require_checkpoint_fit
from se_plugins.utils import InputError, MissingInputError, run_cli


def class_names(cfg: Config) -> Tuple[str, ...]:
    """The classes of a classification config's test dataset (a checkpoint may carry its own)."""
    dataset = cfg.test_dataloader.dataset
    classes = ((dataset.get('metainfo') or {}).get('classes')
               or getattr(dataset_class(dataset, 'mmpretrain'), 'METAINFO', {}).get('classes'))
    if not classes:
        raise InputError(f'the test dataset of the config ({dataset.type}) names no classes')
    return tuple(classes)


def classify(image: str, cfg: Config, checkpoint: str, topk: int = 5) -> List[Tuple[str, float]]:
    """The ``topk`` classes of ``image`` and their probabilities, best first."""
    import mmpretrain.utils.progress
    from mmpretrain.apis import ImageClassificationInferencer

    mmpretrain.utils.progress.disable_progress_bar = True  # one image: the bar would only clutter the output
    with in_scope('mmpretrain'):
        inferencer = ImageClassificationInferencer(cfg, pretrained=checkpoint, device='cpu')
        require_checkpoint_fit(inferencer.model, checkpoint, 'checkpoint')  # before a prediction is made
        if inferencer.classes is None:  # the checkpoint carries no dataset_meta
            inferencer.classes = class_names(cfg)
        scores = inferencer(image)[0]['pred_scores']
    order = np.argsort(-scores)[:topk]
    return [(inferencer.classes[i], float(scores[i])) for i in order]


def detect(image: str, cfg: Config, checkpoint: str, out_dir: str, score_thr: float = 0.3) -> dict:
    """Detections of ``image`` above ``score_thr``: ``boxes`` as ``(class, score, x1, y1, x2, y2)``,
    and the drawn image in ``vis``."""
    from mmdet.apis import DetInferencer

    inferencer = DetInferencer(cfg, weights=checkpoint, device='cpu', show_progress=False)
    require_checkpoint_fit(inferencer.model, checkpoint, 'checkpoint')  # before a prediction is made
    prediction = inferencer(image, out_dir=out_dir, no_save_pred=False, pred_score_thr=score_thr)['predictions'][0]
    classes = inferencer.model.dataset_meta['classes']
    boxes = [(classes[label], score, *box) for label, score, box in
             zip(prediction['labels'], prediction['scores'], prediction['bboxes']) if score >= score_thr]
    return dict(boxes=boxes, vis=osp.join(out_dir, 'vis', osp.basename(image)))


def main() -> Union[list, dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('image', help='an image file')
    parser.add_argument('config', help='a classification or detection config')
    parser.add_argument('checkpoint', help='its trained weights')
    parser.add_argument('--topk', type=int, default=5, help='classes to print (classification)')
    parser.add_argument('--out-dir', default='work_dirs/inference', help='where drawn images go (detection)')
    parser.add_argument('--score-thr', type=float, default=0.3, help='lowest score drawn (detection)')
    args = parser.parse_args()
    for path in (args.image, args.config, args.checkpoint):
        if not osp.isfile(path):
            raise MissingInputError(f'{path} does not exist')
    cfg = Config.fromfile(args.config)
    if task_scope(cfg) == 'mmdet':
        result = detect(args.image, cfg, args.checkpoint, args.out_dir, args.score_thr)
        for name, score, *box in result['boxes']:
            print(f'{name:<20} {score:.3f}  ' + ' '.join(f'{v:.1f}' for v in box))
        print(f'{len(result["boxes"])} detections drawn on {result["vis"]}')
        return result
    top = classify(args.image, cfg, args.checkpoint, args.topk)
    for rank, (name, score) in enumerate(top, 1):
        print(f'{rank}  {score:.4f}  {name}')
    return top


if __name__ == '__main__':
    run_cli(main)
