"""Checkpoints read without running code: malicious pickles refused with the object they would call, what this
project, mmengine's Runner and the converters write loaded, safetensors and trusted files loaded."""
import os
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner, load_checkpoint

from se_plugins.weights import TRUST_VARIABLE, UnsafeCheckpointError, read_checkpoint

from helpers import ToyDataset, ToyModel


class RunsCode:
    """What a malicious "pretrained model" holds: unpickling it calls ``call(*args)``."""

    def __init__(self, call, *args) -> None:
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


def malicious_checkpoint(kind: str, folder) -> tuple:
    """A checkpoint whose loading would create the file ``marker``: the file, the marker, the object it calls."""
    marker = osp.join(folder, f'ran_{kind.replace(" ", "_")}')
    weights = {'backbone.conv1.weight': torch.zeros(2, 3, 1, 1)}
    system, evaluate = RunsCode(os.system, f'touch {marker}'), RunsCode(eval, f'open({marker!r}, "w").close()')
    content, called = {
        'os.system': (system, 'posix.system'),
        'eval': (dict(state_dict=weights, extra=evaluate), 'builtins.eval'),
        'in the state dict': (dict(state_dict=dict(weights, **{'backbone.bias': system})), 'posix.system'),
        'in meta': (dict(state_dict=weights, meta=dict(epoch=3, note=evaluate)), 'builtins.eval'),
    }[kind]
    path = osp.join(folder, f'{kind.replace(" ", "_")}.pth')
    torch.save(content, path)
    return path, marker, called


KINDS = ['os.system', 'eval', 'in the state dict', 'in meta']


@pytest.mark.parametrize('kind', KINDS)
def test_a_malicious_checkpoint_is_refused_naming_the_object_and_runs_nothing(kind, tmp_path):
    path, marker, called = malicious_checkpoint(kind, tmp_path)
    with pytest.raises(UnsafeCheckpointError) as raised:
        read_checkpoint(path)
    assert str(raised.value).startswith(f'checkpoint {path} holds {called}, which loading it would call, so it '
                                        'was not loaded')
    assert TRUST_VARIABLE in str(raised.value)
    with pytest.raises(UnsafeCheckpointError):  # mmengine's own loading, in a process that imported se_plugins
        load_checkpoint(torch.nn.Conv2d(3, 2, 1), path, logger='silent')
    assert not osp.exists(marker)


def test_a_file_the_user_trusts_loads_whole(tmp_path, monkeypatch):
    path, marker, _ = malicious_checkpoint('in meta', tmp_path)
    monkeypatch.setenv(TRUST_VARIABLE, os.pathsep.join(['/elsewhere/other.pth', path]))
    assert read_checkpoint(path)['meta']['epoch'] == 3
    assert osp.exists(marker)  # what the file holds ran: the user said it may


def test_safetensors_load_where_pth_files_do(tmp_path):
    from safetensors.torch import save_file
    model = torch.nn.Conv2d(3, 2, 1)
    path = str(tmp_path / 'weights.bin')  # told apart by its content, whatever its name
    save_file({f'{k}': v for k, v in model.state_dict().items()}, path)
    other = torch.nn.Conv2d(3, 2, 1)
    load_checkpoint(other, path, strict=True, logger='silent')
    assert torch.equal(other.weight, model.weight)


def test_what_mmengines_runner_and_this_projects_runs_write_loads(uninterrupted, tmp_path):
    """A Runner's checkpoint (message hub, optimizer, a MultiStepLR's milestones, meta) and every kind of final
    checkpoint of tools/train.py (one process, an iteration-based loop, two processes with each rank's states)."""
    runner = Runner(
        model=ToyModel(), work_dir=str(tmp_path / 'runner'), experiment_name='toy',
        train_dataloader=dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=True),
                              batch_size=4),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)), train_cfg=dict(by_epoch=True, max_epochs=1),
        param_scheduler=dict(type='MultiStepLR', milestones=[1], by_epoch=True),
        default_hooks=dict(logger=None), visualizer=dict(type='Visualizer', name='toy_reading'))
    runner.train()
    files = [str(tmp_path / 'runner' / 'epoch_1.pth'), *(str(uninterrupted[name]) for name in
                                                         ('epochs', 'iterations', 'two_processes'))]
    for path in files:
        checkpoint = read_checkpoint(path)
        assert {'state_dict', 'message_hub', 'optimizer', 'meta'} <= set(checkpoint), path
    assert len(read_checkpoint(files[-1])['meta']['rank_states']) == 2
