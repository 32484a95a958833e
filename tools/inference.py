"""Predict images with a trained model: the top-k classes (classifiers), the boxes (detectors, drawn too).

    python tools/inference.py INPUTS MODEL [--weights W] [--out-dir work_dirs/inference] [--device cpu]
                              [--batch-size 8] [--topk 5] [--score-thr 0.3] [--amp]
    python tools/inference.py INPUTS CONFIG CHECKPOINT

INPUTS: an image, a folder (every image in it) or a quoted glob ('photos/*.jpg'). MODEL: one of our model names
(``se_plugins.list_models()``: its public weights unless --weights is given) or a config file with its weights (a
checkpoint or ``timm://...``). Every prediction goes to ``OUT_DIR/predictions.json``, drawn detections to
``OUT_DIR/vis/``; one image's predictions are printed too. Files that are not images are skipped and listed.
"""
import argparse
from typing import List

import se_plugins  # noqa: F401
from se_plugins.inference import check_device, find_images, load_inferencer, predict
from se_plugins.utils import check_positive_int, run_cli


def main() -> List[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('inputs', nargs='+', help='an image file, a folder of images or a quoted glob pattern')
    parser.add_argument('model', help='a model name (se_plugins.list_models()) or a config file')
    parser.add_argument('--weights', help='a checkpoint or timm://... (a name: its public weights by default)')
    parser.add_argument('--out-dir', default='work_dirs/inference', help='where predictions.json and drawings go')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1, ...')
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument('--topk', type=int, default=5, help='classes kept per image (classification)')
    parser.add_argument('--score-thr', type=float, default=0.3, help='lowest score kept and drawn (detection)')
    parser.add_argument('--amp', action='store_true', help='mixed precision: fp16 on a GPU, bf16 on a CPU with bf16 '
                        'units (AVX512-BF16, AMX)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args()
    inputs, model, weights = args.inputs, args.model, args.weights
    if len(inputs) > 1 and inputs[-1].endswith('.py'):  # INPUTS CONFIG CHECKPOINT, as mmdet's image demo has it
        inputs, model, weights = inputs[:-1], inputs[-1], weights or model
    for name in ('batch_size', 'topk'):
        check_positive_int(f'--{name.replace("_", "-")}', getattr(args, name))
    images = find_images(inputs)
    inferencer = load_inferencer(model, weights, check_device(args.device))
    result = predict(images, inferencer, args.out_dir, args.batch_size, args.topk, args.score_thr,
                     progress=not args.no_progress, amp=args.amp)
    if len(images) == 1:
        for prediction in result['predictions']:
            for rank, entry in enumerate(prediction.get('topk', []), 1):
                print(f'{rank}  {entry["score"]:.4f}  {entry["name"]}')
            for entry in prediction.get('detections', []):
                print(f'{entry["name"]:<20} {entry["score"]:.3f}  ' + ' '.join(f'{v:.1f}' for v in entry['box']))
    print(f'{len(result["predictions"])} images predicted: {result["json"]}')
    if result['unreadable']:
        print(f'{len(result["unreadable"])} files skipped, not images: ' + ', '.join(result['unreadable'][:5])
              + (' ...' if len(result['unreadable']) > 5 else ''))
    return result['predictions']


if __name__ == '__main__':
    run_cli(main)
