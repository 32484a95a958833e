import re

import pytest
import torch
import torch.nn as nn

TOOL = 'analysis_tools/benchmark_backbone.py'


@pytest.fixture
def interleaved(tool_globals):
    return tool_globals(TOOL)['interleaved']


@pytest.fixture
def saved_activation_bytes(tool_globals):
    return tool_globals(TOOL)['saved_activation_bytes']


def test_models_are_timed_in_turn_every_round(interleaved):
    calls = []
    timings = interleaved({name: (lambda name=name: calls.append(name)) for name in 'abc'}, rounds=3, warmup=1)
    assert calls == list('abc') + list('abc') * 3
    assert all(len(t.seconds) == 3 and t.median >= 0 for t in timings.values())


def test_saved_bytes_count_each_saved_storage_once_without_parameters(saved_activation_bytes):
    linear = nn.Linear(100, 50)
    x = torch.randn(8, 100)

    def step():
        hidden = linear(x)  # saves x (8 x 100) and the weight (a parameter: not counted)
        hidden.exp().sum().backward()  # exp saves its output (8 x 50)
    assert saved_activation_bytes(linear, step) == 4 * (8 * 100 + 8 * 50)


def test_the_tool_prints_every_model_and_the_ratios(capsys, run_tool):
    lines = run_tool(TOOL, '--rounds', '1', '--settings', 'infer:1', 'train:2',
                     '--size', '64', '--dtypes', 'bf16', '--channels-last', 'on', '--detection')
    text = '\n'.join(lines)
    assert text in capsys.readouterr().out
    assert re.search(r'^infer batch 1, bf16, channels_last on, 64x64, 1 rounds$', text, re.M)
    assert len(re.findall(r'^  SE cost \(SE-R50 / R50\):   ours \d+\.\d{3}   mmpretrain \d+\.\d{3}   timm \d+\.\d{3}$',
                          text, re.M)) == 2
    assert re.search(r'ours deploy / faster peer SE-R50: \d+\.\d{3}   SE cost in deploy mode '
                     r'\(SE-R50 / R50, both fused\): \d+\.\d{3}', text)
    assert re.search(r'SE cost \(SE-R50-FPN / R50-FPN\): \d+\.\d{3}', text)
    memory = dict(re.findall(r'^  (ours SE-R50(?: with_cp)?|ours R50 \(SE off\)) .* (\d+\.\d)$', text, re.M))
    # the SE keeps its inputs for backward; with_cp keeps only each block's input
    assert float(memory['ours SE-R50 with_cp']) < float(memory['ours R50 (SE off)']) < float(memory['ours SE-R50'])
    assert float(re.search(r'with_cp / without: saved memory (\d\.\d+)', text).group(1)) < 0.5


def test_the_dataset_benchmark_builds_ours_and_the_peers_on_generated_lists(run_tool):
    text = run_tool('analysis_tools/benchmark_dataset.py', '--datasets', 'places365', '--places365-lines', '3000',
                    '--workers', '2')
    assert re.search(r'^places365: 3,000 samples \(the peer: 3,000\)$', text, re.M)
    ratios = re.findall(r'^  ratio +(\d+\.\d+) +(\d+\.\d+) +(-?\d+\.\d+)$', text, re.M)
    assert len(ratios) == 1 and float(ratios[0][0]) > 0
    workers = re.findall(r'with 2 DataLoader workers, main RSS \d+ MB; private memory per worker (\d+)-(\d+) MB', text)
    assert len(workers) == 2
