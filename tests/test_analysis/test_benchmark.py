import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

from se_plugins.utils import InputError

from helpers import REPO

TOOL = 'analysis_tools/benchmark_backbone.py'


@pytest.fixture
def interleaved(tool_globals):
    return tool_globals(TOOL)['interleaved']


def test_models_are_timed_in_turn_every_round_each_round_starting_one_later(interleaved):
    calls = []
    timings = interleaved({name: (lambda name=name: calls.append(name)) for name in 'abc'}, rounds=4, warmup=1)
    assert ''.join(calls) == 'abc' + 'abc' + 'bca' + 'cab' + 'abc'
    assert all(len(t.seconds) == 4 and t.median >= 0 for t in timings.values())


def test_the_tool_prints_every_model_and_the_ratios():
    """The tool as a process of its own: it loads OpenVINO, whose native thread pool the test processes, which fork
    DataLoader workers, never load."""
    result = subprocess.run([sys.executable, osp.join(REPO, 'tools', TOOL), '--rounds', '1', '--settings', 'infer:1',
                             'train:2', '--device', 'cpu', '--size', '64', '--dtypes', 'bf16', 'fp32',
                             '--channels-last', 'on', '--detection'], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'Inconsistency detected by ld.so' not in result.stderr  # OpenVINO's plugin loaded beside onnxruntime
    text = result.stdout
    assert re.search(r'^infer batch 1, bf16, channels_last on, 64x64, cpu, 1 rounds, interleaved with fp32$', text,
                     re.M)
    target = r'\d+\.\d{3} \(target <= \d\.\d\d: (?:met|not met)\)'
    # each model in bf16 against itself in fp32, in the same interleaved rounds; OpenVINO's bf16 against its f32
    assert len(re.findall(rf'^  bf16 / fp32, each model against itself: ours SE-R50 {target}$', text, re.M)) == 2
    for network in ('SE-R50', 'R50'):
        assert re.search(rf'^  openvino {network} bf16 / f32: \d+\.\d{{3}}   largest logit difference, bf16 - f32, '
                         r'relative to the largest f32 logit: \d+\.\d{4}$', text, re.M), network
    assert len(re.findall(r'^  SE cost \(SE-R50 / R50\):   ours \d+\.\d{3}   mmpretrain \d+\.\d{3}   timm \d+\.\d{3}$',
                          text, re.M)) == 2  # inference, bf16 and fp32
    assert len(re.findall(rf'^  SE cost \(SE-R50 / R50\):   ours {target}   ours with plain autograd \d+\.\d{{3}}   '
                          r'mmpretrain \d+\.\d{3}   timm \d+\.\d{3}$', text, re.M)) == 2  # training
    assert len(re.findall(rf'ours deploy / faster peer SE-R50: {target}   SE cost in deploy mode '
                          rf'\(SE-R50 / R50, both fused\): {target}$', text, re.M)) == 2
    assert len(re.findall(r'^  deploy mode, channels-last \(its default\) / contiguous weights: \d+\.\d{3}$', text,
                          re.M)) == 2
    # onnxruntime runs fp32 only; OpenVINO f32 and bf16 (its default on CPUs with bf16 units)
    for runtime, times in (('onnxruntime', 1), ('openvino', 2)):
        assert len(re.findall(rf'^  {runtime} SE cost \(SE-R50 / R50, both exported in deploy mode\): {target}   '
                              rf'{runtime} / eager, deploy SE-R50: {target}$', text, re.M)) == times, runtime
    assert len(re.findall(rf'^  ours SE-R50 / best peer SE-R50: {target}   fused / plain autograd: \d+\.\d{{3}}$',
                          text, re.M)) == 2
    assert re.search(r'SE cost \(SE-R50-FPN / R50-FPN\): \d+\.\d{3}', text)
    fp32_train = text[text.index('train batch 2, fp32'):]
    memory = dict(re.findall(r'^  (ours SE-R50(?: with_cp| plain autograd)?|ours R50 \(SE off\)) .* (\d+\.\d)$',
                             fp32_train, re.M))
    # the fused SE keeps (N, C) vectors; with autograd on its submodules, it keeps each block's branch output;
    # with_cp keeps only each block's input
    assert float(memory['ours SE-R50 with_cp']) < float(memory['ours R50 (SE off)']) <= float(
        memory['ours SE-R50']) < float(memory['ours SE-R50 plain autograd'])
    saved = re.search(rf'saved for backward, SE-R50 / R50: ours ({target})   ours with plain autograd (\d\.\d+)',
                      fp32_train)
    assert float(saved.group(1).split()[0]) <= 1.05 < float(saved.group(2))
    assert float(re.search(r'with_cp / without: saved memory (\d\.\d+)', text).group(1)) < 0.5


def test_on_a_gpu_times_are_cuda_events_around_each_call(tool_globals, monkeypatch):
    tool = tool_globals(TOOL)
    clock = {'now': 0.0}
    log = []

    class FakeEvent:  # a CUDA event that records the fake GPU clock
        def __init__(self, enable_timing):
            assert enable_timing
            self.at = None

        def record(self):
            self.at = clock['now']
            log.append('record')

        def elapsed_time(self, end):
            return (end.at - self.at) * 1e3  # ms, as CUDA events report

    def gpu_work():  # 25 ms of GPU time, whatever the wall clock says
        clock['now'] += 0.025
        log.append('work')
    monkeypatch.setattr(torch.cuda, 'Event', FakeEvent)
    monkeypatch.setattr(torch.cuda, 'synchronize', lambda: log.append('sync'))
    timings = tool['interleaved']({'model': gpu_work}, rounds=2, warmup=5, clock=tool['cuda_clock'])
    assert timings['model'].seconds == pytest.approx([0.025, 0.025])
    assert log[:5] == ['work'] * 5  # warm-up calls, untimed
    assert log[5:] == ['sync', 'record', 'work', 'record', 'sync'] * 2


@pytest.mark.parametrize('setting', ['infer', 'train:0', 'test:4', 'infer:x'])
def test_a_bad_setting_ends_the_run_before_anything_is_built(run_tool, setting, monkeypatch):
    import se_plugins.building

    def build_classifier(*args, **kwargs):
        raise AssertionError('a model was built before the settings were checked')
    monkeypatch.setattr(se_plugins.building, 'build_classifier', build_classifier)  # the tool imports it at load
    with pytest.raises(InputError, match=re.escape(f"--settings '{setting}': expected infer:<batch> or train:<batch>")):
        run_tool(TOOL, '--settings', 'infer:1', setting, '--device', 'cpu')


def test_the_device_is_the_gpu_when_there_is_one(tool_globals, monkeypatch):
    resolve_device = tool_globals(TOOL)['resolve_device']
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert resolve_device('auto').type == 'cpu'
    with pytest.raises(InputError, match=r'--device cuda: no CUDA device is visible'):
        resolve_device('cuda')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert resolve_device('auto').type == 'cuda'


def test_the_dataset_benchmark_builds_ours_and_the_peers_on_generated_lists(run_tool):
    text = run_tool('analysis_tools/benchmark_dataset.py', '--datasets', 'places365', '--places365-lines', '3000',
                    '--workers', '2')
    assert re.search(r'^places365: 3,000 samples \(the peer: 3,000\)$', text, re.M)
    ratios = re.findall(r'^  ratio +(\d+\.\d+) +(\d+\.\d+) +(-?\d+\.\d+)$', text, re.M)
    assert len(ratios) == 1 and float(ratios[0][0]) > 0
    workers = re.findall(r'with 2 DataLoader workers, main RSS \d+ MB; private memory per worker (\d+)-(\d+) MB', text)
    assert len(workers) == 2
