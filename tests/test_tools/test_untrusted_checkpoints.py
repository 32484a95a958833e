"""A checkpoint that would run code as it loads, given to every tool that loads one (testing, inference, resuming,
fine-tuning's load_from, a backbone's init_cfg, each converter): one error line naming the file and the object,
nothing run, nothing written."""
import os
import os.path as osp

import pytest
import torch

from se_plugins.datasets import make_places365
from se_plugins.weights import read_checkpoint

from helpers import PLACES_CONFIG, build_peer, run_command_line, train_options

pytestmark = pytest.mark.slow


class RunsCode:
    """Unpickling it calls ``os.system(command)``: the standard way a malicious "pretrained model" is built."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


@pytest.fixture(scope='module')
def places(module_tmp_path) -> str:
    return make_places365(str(module_tmp_path / 'places'), num_classes=2, train_per_class=2, val_per_class=1,
                          image_size=32)


ENTRY_POINTS = ['test.py', 'inference.py', 'train.py --resume', 'train.py load_from', 'train.py init_cfg',
                'se_convert.py --from timm', 'se_convert.py --from pretrainedmodels', 'se_convert.py --from mmpretrain']


@pytest.mark.parametrize('entry_point', ENTRY_POINTS)
def test_a_checkpoint_that_runs_code_is_refused_by_every_tool(entry_point, places, tmp_path, monkeypatch, capfd):
    project = tmp_path / 'project'
    project.mkdir()
    monkeypatch.chdir(project)
    marker = tmp_path / 'it_ran'
    evil = str(tmp_path / 'downloaded.pth')
    torch.save(dict(state_dict={'backbone.conv1.weight': torch.zeros(1)}, meta=dict(note=RunsCode(f'touch {marker}'))),
               evil)
    work_dir = project / 'work'
    options = train_options(places, epochs=1)
    if entry_point == 'test.py':
        tool, args = 'test.py', [PLACES_CONFIG, evil, '--work-dir', str(work_dir), *options]
    elif entry_point == 'inference.py':
        image = osp.join(places, 'val_256', 'Places365_val_00000001.jpg')
        tool, args = 'inference.py', [image, PLACES_CONFIG, evil]
    elif entry_point == 'train.py --resume':  # a work dir shared with others, or copied from elsewhere
        work_dir.mkdir()
        os.replace(evil, work_dir / 'epoch_1.pth')
        evil = str(work_dir / 'epoch_1.pth')
        (work_dir / 'last_checkpoint').write_text(evil)
        tool, args = 'train.py', [PLACES_CONFIG, '--work-dir', str(work_dir), '--resume', *options]
    elif entry_point == 'train.py load_from':
        tool, args = 'train.py', [PLACES_CONFIG, '--work-dir', str(work_dir), *options, f'load_from={evil}']
    elif entry_point == 'train.py init_cfg':
        init = ['model.backbone.init_cfg.type=Pretrained', f'model.backbone.init_cfg.checkpoint={evil}']
        tool, args = 'train.py', [PLACES_CONFIG, '--work-dir', str(work_dir), *options, *init]
    else:
        tool = 'model_converters/se_convert.py'
        args = [evil, str(work_dir / 'converted.pth'), '--from', entry_point.split()[-1]]
    before = sorted(os.listdir(work_dir)) if work_dir.exists() else None
    capfd.readouterr()
    status, stderr = run_command_line(tool, *args), capfd.readouterr().err
    assert status == 1, stderr[-3000:]
    assert stderr.strip().splitlines()[-1].startswith(
        f'error: checkpoint {evil} holds posix.system, which loading it would call, so it was not loaded'), stderr
    assert 'Traceback' not in stderr
    assert not marker.exists()
    assert (sorted(os.listdir(work_dir)) if work_dir.exists() else None) == before
    assert sorted(os.listdir(project)) == (['work'] if before is not None else [])


def test_the_converters_output_loads_unchanged(tmp_path):
    """What se_convert.py writes is read back by the tools' loading (its meta: dicts, lists, strings)."""
    peer = tmp_path / 'peer.pth'
    torch.save(build_peer('timm', 'legacy_seresnet18').state_dict(), peer)
    converted = tmp_path / 'converted.pth'
    assert run_command_line('model_converters/se_convert.py', str(peer), str(converted), '--from', 'timm') == 0
    assert read_checkpoint(str(converted))['meta']['backbone_cfg']['branch_relu'] is True
