"""Mixed precision on the CPU as mmengine has it on GPUs: what --amp changes in a config, on a CPU with bf16 units
and without; mmcv's NMS and RoIAlign in float32 under bf16 autocast; checkpoints written in bf16 that resume
bit-identically, in bf16 and in float32; the GPU path built and stepped with CUDA faked."""
import os
import shutil
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import AmpOptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

from se_plugins.engine import apply_amp, run_mmcv_ops_in_float32
from se_plugins.utils import InputError
from se_plugins.utils.cpu_features import bf16_units

from helpers import PLACES_CONFIG, assert_same_weights, run_command_line, train_command

MISSING = 'this CPU has no bf16 units (AVX512-BF16 or AMX)'
needs_bf16_units = pytest.mark.skipif(not bf16_units(), reason=MISSING)


def test_on_a_cpu_without_bf16_units_amp_is_one_line(monkeypatch):
    monkeypatch.setattr('se_plugins.utils.cpu_features.bf16_units', lambda: [])
    with pytest.raises(InputError, match=r'--amp: this CPU has no bf16 units \(AVX512-BF16 or AMX; torch reports '
                                         r'\w+\), so bf16 would run slower than fp32 here'):
        apply_amp(Config.fromfile(PLACES_CONFIG), train=True)


@needs_bf16_units
def test_on_a_cpu_with_bf16_units_the_config_names_the_cpu_wrapper_and_the_loops_autocast():
    cfg = Config.fromfile(PLACES_CONFIG)
    assert apply_amp(cfg, train=True) == f'bf16 (CPU: {", ".join(bf16_units())})'
    assert (cfg.optim_wrapper.type, cfg.optim_wrapper.dtype) == ('se_plugins.CPUAmpOptimWrapper', 'bfloat16')
    assert cfg.val_cfg.fp16 and cfg.test_cfg.fp16
    assert dict(type='se_plugins.Float32Predictions') in cfg.custom_hooks


def test_the_gpu_path_builds_and_steps_with_cuda_faked(monkeypatch):
    """Not run on a GPU: the config --amp gives there, mmengine's AmpOptimWrapper built with its CUDA check faked
    and stepped on this CPU (its fp16 gradient scaler disables itself without CUDA)."""
    cfg = Config.fromfile(PLACES_CONFIG)
    with monkeypatch.context() as gpu:
        gpu.setattr(torch.cuda, 'is_available', lambda: True)
        assert apply_amp(cfg, train=True) == 'fp16 (CUDA)'
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.loss_scale == 'dynamic'
    monkeypatch.setattr(sys.modules[AmpOptimWrapper.__module__], 'is_cuda_available', lambda: True)
    model = torch.nn.Linear(4, 2)
    wrapper = OPTIM_WRAPPERS.build(dict(cfg.optim_wrapper, optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        loss = model(torch.randn(8, 4)).pow(2).mean()
    wrapper.update_params(loss)
    assert isinstance(wrapper, AmpOptimWrapper) and not torch.equal(model.weight, before)


@needs_bf16_units
def test_mmcvs_nms_and_roi_align_run_in_float32_under_bf16_autocast():
    from mmcv.ops import batched_nms, roi_align
    run_mmcv_ops_in_float32()
    features = torch.randn(1, 8, 16, 16, requires_grad=True)
    rois = torch.tensor([[0., 1., 1., 9., 9.], [0., 4., 2., 14., 12.]])
    expected = roi_align(features, rois, (3, 3), 1.0, 2, 'avg', True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        computed = roi_align(features.bfloat16(), rois, (3, 3), 1.0, 2, 'avg', True)
        boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.]], dtype=torch.bfloat16)
        _, keep = batched_nms(boxes, torch.tensor([0.9, 0.8, 0.7], dtype=torch.bfloat16), torch.zeros(3),
                              dict(type='nms', iou_threshold=0.5))
    assert computed.dtype == torch.bfloat16 and keep.tolist() == [0, 2]
    torch.testing.assert_close(computed.float(), expected, rtol=0.02, atol=0.02)
    computed.float().sum().backward()  # RoIAlign's backward too, in float32
    assert features.grad is not None and features.grad.abs().sum() > 0


@needs_bf16_units
@pytest.mark.slow
def test_a_bf16_checkpoint_resumes_bit_identically_in_bf16_and_loads_in_float32(places, tmp_path):
    def train(work_dir, epochs: int, *extra: str) -> int:
        command = train_command(places, work_dir, *extra, epochs=epochs)
        return run_command_line('train.py', *command[2:])
    assert train(tmp_path / 'straight', 2, '--amp') == 0
    assert train(tmp_path / 'stopped', 1, '--amp') == 0
    shutil.copytree(tmp_path / 'stopped', tmp_path / 'fp32')
    assert train(tmp_path / 'stopped', 2, '--amp', '--resume') == 0
    assert_same_weights(tmp_path / 'straight' / 'epoch_2.pth', tmp_path / 'stopped' / 'epoch_2.pth')
    assert train(tmp_path / 'fp32', 2, '--resume') == 0  # the bf16 run's checkpoint goes on in float32
    assert sorted(os.listdir(tmp_path / 'fp32')).count('epoch_2.pth') == 1
