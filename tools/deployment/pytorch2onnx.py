"""Export a config's model, in deploy mode, to ONNX, and check it against PyTorch in a CPU runtime.

    python tools/deployment/pytorch2onnx.py CONFIG [CHECKPOINT] --out model.onnx [--shape 224 [224]]
        [--opset 18] [--static-batch] [--no-fuse] [--atol 1e-4] [--runtime onnxruntime|openvino]

Classification configs export the classifier (normalised images -> logits); detection configs export the
detector's dense part (backbone and neck features, the dense head's or RPN's raw outputs; box decoding, NMS
and the RoI head stay in mmdet: docs/deploy.md). Deploy mode (``backbone.fuse()``: BN folded into the convs)
is applied first unless ``--no-fuse``. The batch dimension is dynamic unless ``--static-batch``. The
config's normalisation is written into the file's metadata (``mean``, ``std``, ``to_rgb``). The tool then
runs the file in ``--runtime`` (onnxruntime by default, or OpenVINO) on a batch of 2 and compares every output
with PyTorch's: a difference above ``--atol`` is an error, and so is a runtime that is not installed.
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config

import se_plugins  # noqa: F401
from se_plugins.building import build_model
from se_plugins.deployment import (OPSET, RUNTIMES, export_onnx, import_runtime, max_output_difference,
                                   preprocessing_metadata)
from se_plugins.engine import require_checkpoint_fit
from se_plugins.utils import InputError, MissingInputError, run_cli


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='a classification or detection config')
    parser.add_argument('checkpoint', nargs='?', help='its trained weights (default: random weights)')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument('--shape', type=int, nargs='+', default=[224], help='input height [width]')
    parser.add_argument('--opset', type=int, default=OPSET, help='the ONNX opset')
    parser.add_argument('--static-batch', action='store_true', help='fix the batch size to 1')
    parser.add_argument('--no-fuse', dest='fuse', action='store_false', help='export without deploy mode')
    parser.add_argument('--atol', type=float, default=1e-4, help='largest output difference accepted')
    parser.add_argument('--runtime', choices=list(RUNTIMES), default='onnxruntime', help='the CPU runtime of the check')
    args = parser.parse_args()
    import_runtime(args.runtime)  # before anything is built or written
    for path in (args.config, args.checkpoint):
        if path is not None and not osp.isfile(path):
            raise MissingInputError(f'{path} does not exist')
    if len(args.shape) > 2 or min(args.shape) < 1:
        raise InputError(f'--shape {" ".join(map(str, args.shape))}: expected a height and an optional width')
    height, width = (args.shape * 2)[:2]
    cfg = Config.fromfile(args.config)
    model = build_model(cfg)
    if args.checkpoint is not None:
        from mmengine.runner import load_checkpoint
        require_checkpoint_fit(model, args.checkpoint, 'checkpoint')
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    if args.fuse and hasattr(model.backbone, 'fuse'):
        model.backbone.fuse(channels_last=False)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    outputs = export_onnx(model, args.out, (1, 3, height, width), args.opset, not args.static_batch,
                          preprocessing_metadata(cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor')))
    images = torch.randn(1 if args.static_batch else 2, 3, height, width)
    difference = max_output_difference(args.out, model, images, args.runtime)
    if difference > args.atol:
        raise InputError(f'{args.out}: {args.runtime}\'s outputs differ from PyTorch\'s by {difference:.2e} '
                         f'(--atol {args.atol:g})')
    print(f'{args.out}: {len(outputs)} outputs ({", ".join(outputs)}), opset {args.opset}, input images '
          f'{"N" if not args.static_batch else 1}x3x{height}x{width}; {args.runtime} equals PyTorch within '
          f'{difference:.1e} on a batch of {images.shape[0]}')
    return dict(path=args.out, outputs=outputs, difference=difference, runtime=args.runtime)


if __name__ == '__main__':
    run_cli(main)
