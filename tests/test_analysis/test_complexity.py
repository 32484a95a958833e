import os.path as osp

import pretrainedmodels
import pytest
import timm

from se_plugins.analysis import PAPER_TABLE, measure, paper_table
from se_plugins.building import build_classifier

from helpers import REPO


@pytest.fixture(scope='module')
def table():
    return paper_table()


def parse(table: str) -> dict:
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip('|').split('|')]
        rows[(cells[0], cells[1])] = dict(zip(('input', 'params', 'paper_params', 'gflops', 'paper', 'deviation'),
                                              cells[2:8]))
    return rows


# The rows whose layout is the paper's: within 0.5 % (the ResNets) or 1 % (the target for the others).
# Two are not: the paper's Inception-ResNet-v2 and ShuffleNet counts are not those of the peers' layouts
# (timm's TF-slim Inception-ResNet-v2; mmpretrain's ShuffleNet, which is Megvii's reference, 138 MFLOPs).
TOLERANCE = {'ResNet': 0.005, 'ResNeXt': 0.005, 'VGG-16': 0.01, 'BN-Inception': 0.01, 'MobileNet': 0.01}
NOT_THE_PAPERS_LAYOUT = ('Inception-ResNet-v2', 'ShuffleNet')


def test_every_paper_row_is_within_its_tolerance(table):
    rows = parse(table)
    assert len(rows) == len(PAPER_TABLE) == 22
    checked = 0
    for row in PAPER_TABLE:
        cells = rows[(row.name, row.layout)]
        gflops = float(cells['gflops'])
        if row.paper_gflops is None:
            assert cells['paper'] == row.note and cells['deviation'] == ''
            continue
        assert float(cells['deviation'].rstrip(' %')) == pytest.approx(100 * (gflops / row.paper_gflops - 1), abs=0.02)
        if row.paper_params is not None:  # MobileNet and ShuffleNet: parameters within 0.1 M of the paper's
            assert abs(float(cells['params']) - row.paper_params) < 0.1, cells
        if any(name in row.name for name in NOT_THE_PAPERS_LAYOUT):
            assert abs(gflops / row.paper_gflops - 1) > 0.01, 'now within 1 %: move it to TOLERANCE'
            continue
        tolerance = next(value for family, value in TOLERANCE.items() if family in row.name)
        assert abs(gflops / row.paper_gflops - 1) < tolerance, cells
        checked += 1
    assert checked == 16
    # SE costs what the paper says: +2.53 M parameters and a few MFLOPs on ResNet-50
    assert float(rows[('SE-ResNet-50', 'caffe')]['params']) == pytest.approx(28.09)
    assert float(rows[('ResNet-50', 'caffe')]['params']) == pytest.approx(25.56)
    # the layout matters: the stride on the 3x3 costs 0.23 GFLOPs more (timm's seresnet50: 4.09)
    assert float(rows[('SE-ResNet-50', 'pytorch')]['gflops']) == pytest.approx(4.09, abs=0.005)
    assert rows[('SE-Inception-ResNet-v2', 'timm')]['input'] == '299x299'


@pytest.mark.parametrize('name, peer', [
    ('SEInceptionResNetV2', lambda: timm.create_model('inception_resnet_v2')),
    ('SEMobileNetV1', lambda: timm.create_model('mobilenetv1_100')),
    ('SEBNInception', lambda: pretrainedmodels.bninception(pretrained=None)),
])
def test_the_plain_networks_count_is_the_peers(name, peer):
    row = next(r for r in PAPER_TABLE if r.backbone == dict(type=f'se_plugins.{name}', with_se=False))
    ours = measure(build_classifier(row.backbone, in_channels=row.feat_channels))
    theirs = measure(peer())
    assert ours.paper_flops == theirs.paper_flops and ours.params == theirs.params


def test_the_count_equals_that_of_cadenes_caffe_style_port():
    ours = measure(build_classifier(dict(type='se_plugins.SEResNet', depth=50, style='caffe')))
    cadene = measure(pretrainedmodels.se_resnet50(num_classes=1000, pretrained=None))
    assert ours.paper_flops == cadene.paper_flops == 3_860_488_192
    assert ours.params == cadene.params == 28_088_024


def test_what_the_paper_does_not_count_is_reported_apart():
    se = measure(build_classifier(dict(type='se_plugins.SEResNet', depth=50, style='caffe')))
    plain = measure(build_classifier(dict(type='mmpretrain.ResNet', depth=50, style='caffe')))
    assert se.by_operator['batch_norm'] == se.norm_flops == plain.norm_flops > 0
    assert se.pool_flops == 2048 * 7 * 7  # the head's global pooling; the SE squeezes are element-wise
    # squeeze + scale on every block's output: 2 x sum over blocks of C x H x W
    blocks = [(3, 256, 56), (4, 512, 28), (6, 1024, 14), (3, 2048, 7)]
    assert se.se_elementwise_flops == 2 * sum(n * c * s * s for n, c, s in blocks)
    assert plain.se_elementwise_flops == 0
    assert se.paper_flops - plain.paper_flops == 2_514_944  # the SE FCs: one multiply-add per weight


def test_the_tool_prints_the_table_and_counts_a_config(capsys, run_tool):
    config = osp.join(REPO, 'configs', 'imagenet', 'se-resnet50_8xb128-paper_in1k.py')
    text = run_tool('analysis_tools/get_flops.py', config)
    assert 'params: 28.088 M' in text
    assert 'GFLOPs (conv + fc, as the paper counts): 4.' in text  # pytorch layout, like mmpretrain's
    assert text in capsys.readouterr().out


def test_the_docs_show_the_table_the_tool_prints(table):
    with open(osp.join(REPO, 'docs', 'tools.md')) as f:
        assert table in f.read()
