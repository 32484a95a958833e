import json
import os.path as osp

import matplotlib.image
import pytest
import torch

from se_plugins.analysis.excitation import PAPER_BLOCKS, excitation_figures, record_excitations, save_figures, se_module
from se_plugins.datasets import make_places365
from se_plugins.registry import MODELS
from se_plugins.utils import InputError

from helpers import REPO


def test_block_names_are_the_papers():
    backbone = MODELS.build(dict(type='SEResNet', depth=50))
    assert se_module(backbone, 'SE_2_3') is backbone.layer1[2].se
    assert se_module(backbone, 'SE_4_6') is backbone.layer3[5].se
    assert se_module(backbone, 'SE_5_3') is backbone.layer4[2].se
    for block, message in [('SE_5_4', 'stage 5 has blocks 1-3'), ('SE_6_1', 'the backbone has stages 2-5'),
                           ('se52', 'is not a name like SE_5_2')]:
        with pytest.raises(InputError, match=message):
            se_module(backbone, block)
    without = MODELS.build(dict(type='SEResNet', depth=50, se_stages=(True, True, True, False)))
    with pytest.raises(InputError, match="block 'SE_5_1' has no SE module"):
        se_module(without, 'SE_5_1')


def test_recorded_gates_are_the_se_modules_excitations():
    backbone = MODELS.build(dict(type='SEResNet', depth=50)).eval()
    images, labels = torch.randn(3, 3, 64, 64), torch.tensor([0, 1, 0])
    recorded = record_excitations(backbone, [(images, labels)], ['SE_2_3', 'SE_5_1'])
    assert set(recorded['SE_5_1']) == {0, 1} and recorded['SE_5_1'][0].shape == (2, 2048)
    # the same values, computed by hand: eq. (3) on the block's residual branch
    features = {}
    block = backbone.layer1[2]
    block.register_forward_hook(lambda m, i, o: features.setdefault('x', i[0]))
    with torch.no_grad():
        backbone(images)
        expected = block.se.excite(block.residual(features['x'])).flatten(1)
    torch.testing.assert_close(recorded['SE_2_3'][0], expected[[0, 2]])
    torch.testing.assert_close(recorded['SE_2_3'][1], expected[[1]])


def test_figures_have_one_series_per_class_asked_and_the_mean_over_all(tmp_path):
    gates = {block: {c: torch.rand(4, 8) for c in range(3)} for block in ('SE_2_3', 'SE_5_2')}
    figures = excitation_figures(gates, ['a', 'b', 'c'], [0, 2])
    means, spread = figures['excitation_per_channel'], figures['excitation_mean_std']
    for axis, block in zip(means.axes, gates):
        assert axis.get_title() == block
        assert [line.get_label() for line in axis.get_lines()] == ['a', 'c', 'all']
        torch.testing.assert_close(torch.tensor(axis.get_lines()[1].get_ydata()), gates[block][2].mean(0))
        torch.testing.assert_close(torch.tensor(axis.get_lines()[2].get_ydata()),
                                   torch.cat(list(gates[block].values())).mean(0))
    assert [[line.get_label() for line in axis.get_lines()] for axis in spread.axes] == [['a', 'c']] * 2
    assert all(len(axis.collections) == 2 for axis in spread.axes)  # one std band per class
    files = save_figures(figures, str(tmp_path))
    for path in files.values():
        assert matplotlib.image.imread(path).shape[:2] == (440, 800)  # 2 panels: 8 x 4.4 in at 100 dpi
    with pytest.raises(InputError, match=r"no images of class \['d'\] were recorded"):
        excitation_figures(gates, ['a', 'b', 'c', 'd'], [3])


def test_the_tool_on_generated_places365_with_a_random_model(tmp_path, run_tool):
    data_root = make_places365(str(tmp_path / 'data'), num_classes=3, train_per_class=1, val_per_class=3,
                               image_size=32)
    config = osp.join(REPO, 'configs', 'places365', 'se-resnet50_8xb32-scratch_places365.py')
    files = run_tool(
        'analysis_tools/excitation.py', config,
        '--classes', 'airplane_cabin', 'airfield', '--images-per-class', '2', '--out-dir', str(tmp_path / 'out'),
        '--cfg-options', f'test_dataloader.dataset.data_root={data_root}',
        'test_dataloader.dataset.pipeline.1.scale=32', 'test_dataloader.dataset.pipeline.2.crop_size=32')
    assert all(osp.isfile(path) for path in files.values()) and len(files) == 2
    with open(tmp_path / 'out' / 'excitation_means.json') as f:
        means = json.load(f)
    assert list(means) == list(PAPER_BLOCKS)
    assert all(0 < value < 1 for block in means.values() for value in block.values())
