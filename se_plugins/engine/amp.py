"""Mixed precision on the CPU (bf16, on CPUs with bf16 units) as mmengine has it on GPUs (fp16), named in the config.

- :class:`CPUAmpOptimWrapper` (``optim_wrapper.type``): mmengine's ``OptimWrapper`` with the forward pass under
  bf16 autocast. bf16 has fp32's exponent range: no loss scaling. mmengine's ``AmpOptimWrapper`` asserts a
  CUDA, NPU, MLU or MUSA device.
- Validation and testing: mmengine's loops' own switch, ``val_cfg.fp16`` / ``test_cfg.fp16`` (its ``autocast``
  is bf16 on the CPU), with :class:`Float32Predictions` among the hooks: NumPy has no bf16, and the evaluators
  turn predictions into arrays.
- mmcv's CPU kernels of NMS and RoIAlign take float32 only (``expected scalar type Float but found BFloat16``):
  :func:`run_mmcv_ops_in_float32` has them compute in float32 under CPU autocast, their outputs in the dtype of
  their input. This changes mmcv's autograd functions ``NMSop`` and ``RoIAlignFunction``, here and nowhere else
  (docs/development.md lists it; tests/test_engine/test_amp.py fails when mmcv moves them).

:func:`apply_amp` is what ``tools/train.py --amp`` and ``tools/test.py --amp`` change in a config.
"""
import functools
import sys
from contextlib import contextmanager

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from mmengine.runner.amp import autocast

from se_plugins.registry import HOOKS, OPTIM_WRAPPERS
from se_plugins.utils.cpu_features import require_bf16_units

_FLOAT32_OPS = (('mmcv.ops.nms', 'NMSop', ('forward', )),
                ('mmcv.ops.roi_align', 'RoIAlignFunction', ('forward', 'backward')))


def _in_float32(method):
    """``method`` (an autograd function's forward or backward) on float32 copies of its lower-precision inputs, with
    autocast off; its floating outputs in the dtype of the first floating input."""
    @functools.wraps(method)
    def run(ctx, *args, **kwargs):
        dtypes = [a.dtype for a in args if torch.is_tensor(a) and a.is_floating_point()]
        if all(dtype == torch.float32 for dtype in dtypes):
            return method(ctx, *args, **kwargs)
        args = tuple(a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args)
        with torch.autocast('cpu', enabled=False):
            outputs = method(ctx, *args, **kwargs)
        dtype = dtypes[0] if dtypes else torch.float32
        cast = (lambda t: t.to(dtype) if torch.is_tensor(t) and t.is_floating_point() else t)
        return type(outputs)(map(cast, outputs)) if isinstance(outputs, tuple) else cast(outputs)
    run.in_float32 = True
    return staticmethod(run)


def run_mmcv_ops_in_float32() -> None:
    """Have mmcv's NMS and RoIAlign compute in float32 under CPU autocast (once a process)."""
    import mmcv.ops  # noqa: F401  (loads its submodules)
    for module, name, methods in _FLOAT32_OPS:
        function = getattr(sys.modules[module], name)
        for method in methods:
            if not getattr(getattr(function, method), 'in_float32', False):
                setattr(function, method, _in_float32(getattr(function, method)))


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """mmengine's ``OptimWrapper`` with the forward pass (data preprocessor, model, losses) under bf16 autocast on
    the CPU; the backward pass and the update as mmengine's. What ``tools/train.py --amp`` uses on a CPU with bf16
    units.

    Args:
        dtype: The autocast dtype: ``'bfloat16'``, the one CPU autocast has.
        **kwargs: ``OptimWrapper``'s arguments (``optimizer``, ``clip_grad``, ``accumulative_counts``).
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs) -> None:
        super().__init__(**kwargs)
        self.cast_dtype = getattr(torch, dtype)
        run_mmcv_ops_in_float32()

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        with super().optim_context(model), autocast(device_type='cpu', dtype=self.cast_dtype):
            yield


def float32_outputs(module, inputs, outputs):
    """A forward hook: the model's predictions (data samples) with their bf16 tensors in float32."""
    if isinstance(outputs, (list, tuple)):
        for sample in outputs:
            for field in ('pred_instances', 'pred_score', 'pred_label', 'pred_sem_seg'):
                value = getattr(sample, field, None)
                if torch.is_tensor(value) and value.dtype == torch.bfloat16:
                    sample.set_field(value.float(), field)
                elif hasattr(value, 'all_keys'):
                    for key in value.all_keys():
                        tensor = getattr(value, key)
                        if torch.is_tensor(tensor) and tensor.dtype == torch.bfloat16:
                            setattr(value, key, tensor.float())
    return outputs


@HOOKS.register_module()
class Float32Predictions(Hook):
    """Validation and testing under bf16 autocast (``val_cfg.fp16``, ``test_cfg.fp16`` on the CPU) give the
    evaluators float32 predictions; mmcv's NMS and RoIAlign compute in float32 (:func:`run_mmcv_ops_in_float32`)."""

    def __init__(self) -> None:
        run_mmcv_ops_in_float32()
        self._handle = None

    def _start(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if self._handle is None:
            self._handle = model.register_forward_hook(float32_outputs)

    def _stop(self, runner, metrics=None) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    before_val_epoch = before_test_epoch = _start
    after_val_epoch = after_test_epoch = _stop


def apply_amp(cfg: Config, train: bool) -> str:
    """What ``--amp`` changes in a config: on a GPU, mmengine's ``AmpOptimWrapper`` (fp16, dynamic loss scale) to
    train and its loops' ``fp16`` to evaluate; on a CPU with bf16 units, :class:`CPUAmpOptimWrapper` and the loops'
    ``fp16`` (bf16 there) with :class:`Float32Predictions`; on a CPU without them, one error line.

    Args:
        cfg: The config, changed in place.
        train: A training run (its optimizer wrapper and validation), or a test.

    Returns:
        What runs in mixed precision, for the log: ``'fp16 (CUDA)'`` or ``'bf16 (CPU: AVX512-BF16)'``.
    """
    loops = ['val_cfg', 'test_cfg'] if train else ['test_cfg']
    if torch.cuda.is_available():
        if train:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        used = 'fp16 (CUDA)'
    else:
        units = require_bf16_units('--amp')
        if train:
            cfg.optim_wrapper.type = 'se_plugins.CPUAmpOptimWrapper'
            cfg.optim_wrapper.dtype = 'bfloat16'
        hooks = list(cfg.get('custom_hooks') or [])
        if not any(str(hook.get('type', '')).endswith('Float32Predictions') for hook in hooks):
            cfg.custom_hooks = [*hooks, dict(type='se_plugins.Float32Predictions')]
        used = f'bf16 (CPU: {", ".join(units)})'
    for loop in loops:
        if isinstance(cfg.get(loop), dict):
            cfg[loop].fp16 = True
    return used
