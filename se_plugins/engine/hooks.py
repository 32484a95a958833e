import hashlib
import json
import math
import os
import os.path as osp

import torch
import torch.distributed as dist
from mmcv.cnn import fuse_conv_bn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.engine.hooks import VisualizationHook

from se_plugins.registry import HOOKS


def tensor_digest(named_tensors) -> str:
    """SHA-256 of named tensors, by name, bit for bit."""
    digest = hashlib.sha256()
    for name, tensor in sorted(named_tensors):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@HOOKS.register_module()
class DistributedWeightCheckHook(Hook):
    """After training, check that every rank holds bit-identical parameters and buffers.

    DDP keeps parameters in step; BN running statistics stay per rank unless something syncs them
    (mmengine's ``SyncBuffersHook``, which our classification configs use). Each rank hashes its
    parameters and its buffers; rank 0 writes the hashes to ``<work_dir>/weight_digests.json``
    and every rank raises if they differ, naming which.
    """

    priority = 'VERY_LOW'

    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        digest = dict(parameters=tensor_digest(model.named_parameters()),
                      buffers=tensor_digest(model.named_buffers()))
        digests = [digest]
        if dist.is_available() and dist.is_initialized():
            digests = [None] * dist.get_world_size()
            dist.all_gather_object(digests, digest)
        if runner.rank == 0:
            with open(osp.join(runner.work_dir, 'weight_digests.json'), 'w') as f:
                json.dump(digests, f, indent=2)
        if len({d['parameters'] for d in digests}) != 1:
            raise RuntimeError(f'ranks hold different parameters after training: {digests}')
        if len({d['buffers'] for d in digests}) != 1:
            raise RuntimeError('ranks hold different buffers (BN running statistics) after training; '
                               "add dict(type='SyncBuffersHook') to custom_hooks to average them")
        runner.logger.info(f'all {len(digests)} ranks hold the same parameters and buffers')


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training at the first NaN or infinite loss, naming the iteration and the loss term.

    mmengine logs ``loss: nan`` and trains on; a diverged run then wastes its allocation and
    overwrites good checkpoints with NaN weights. This hook raises ``FloatingPointError`` instead.
    """

    priority = 'ABOVE_NORMAL'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        values = {name: float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
                  for name, value in (outputs or {}).items()}
        bad = [name for name, value in values.items() if 'loss' in name and not math.isfinite(value)]
        if bad:
            name = next((n for n in bad if n != 'loss'), bad[0])  # the term, rather than the total
            raise FloatingPointError(f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}): '
                                     f'{name} is {values[name]}; all terms: '
                                     + ', '.join(f'{k}={v:.4g}' for k, v in values.items()))


@HOOKS.register_module()
class FuseConvBNHook(Hook):
    """Before testing, fold every BN of the model into the conv before it (deploy mode; what
    ``tools/test.py --fuse-conv-bn`` adds). It runs after the checkpoint is loaded."""

    priority = 'VERY_LOW'

    def before_test(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        fuse_conv_bn(model.eval())


@HOOKS.register_module()
class BadImagesHook(Hook):
    """After every training epoch, validation and test, log how many bad images the dataset has skipped so far.

    For datasets with a ``max_bad_images`` budget (ours, and any other in ``se_plugins.GuardedImages``, which the
    tools' Runner puts around it); the count is every process's, DataLoader workers included, whose own warnings
    may not reach the console. ``tools/train.py`` and ``tools/test.py`` add it to every run.
    """

    priority = 'LOW'

    @staticmethod
    def _report(runner, dataset, what: str) -> None:
        while not hasattr(dataset, 'max_bad_images') and hasattr(dataset, 'dataset'):  # dataset wrappers
            dataset = dataset.dataset
        if getattr(dataset, 'max_bad_images', 0):
            met = dataset.bad_images()
            runner.logger.info(f'{what}: {len(met)} bad images skipped so far '
                               f'(max_bad_images={dataset.max_bad_images})' + ''.join(f'\n  {m}' for m in met))

    def after_train_epoch(self, runner) -> None:
        self._report(runner, runner.train_dataloader.dataset, f'epoch {runner.epoch + 1}')

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._report(runner, runner.val_loop.dataloader.dataset, 'validation')

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._report(runner, runner.test_loop.dataloader.dataset, 'test')


@HOOKS.register_module()
class ClassificationDrawingHook(VisualizationHook):
    """mmpretrain's ``VisualizationHook``, whose drawings of a test are named after each image's path below the
    dataset's image folder (``daisy_0001.jpg_0.png``), not its file name alone: class folders hold files of the
    same names, and mmpretrain's drawing of one overwrote the others'. What ``tools/test.py --show-dir`` draws a
    classifier's predictions with."""

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict, outputs) -> None:
        dataset = runner.test_dataloader.dataset
        folder = (getattr(dataset, 'data_prefix', None) or {}).get('img_path') or getattr(dataset, 'data_root', '')
        paths = [sample.get('img_path') for sample in outputs]
        for sample, path in zip(outputs, paths):
            if path and folder and osp.abspath(path).startswith(osp.abspath(folder) + os.sep):
                sample.set_metainfo(dict(img_path=osp.relpath(path, folder).replace(os.sep, '_')))
        try:
            super().after_test_iter(runner, batch_idx, data_batch, outputs)
        finally:
            for sample, path in zip(outputs, paths):
                if path:
                    sample.set_metainfo(dict(img_path=path))
