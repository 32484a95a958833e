"""ONNX export of classifiers and detectors in deploy mode, checked in each CPU runtime (onnxruntime here, OpenVINO
in a process of its own: its native thread pool is never loaded into the test processes, which fork DataLoader
workers); the export tool."""
import json
import os.path as osp
import re
import subprocess
import sys
import warnings

import onnx
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

from se_plugins.building import build_model
from se_plugins.deployment import (OPSET, DetectorForExport, export_onnx, for_export, max_output_difference,
                                   onnxruntime_session)
from se_plugins.utils import InputError

from helpers import REPO, randomise_bn

TOOL = 'deployment/pytorch2onnx.py'
CLASSIFIER = 'configs/imagenet/se-resnet50_8xb128-paper_in1k.py'
DETECTOR = 'configs/faster_rcnn/faster-rcnn_se-r50_fpn_cpu-demo_shapes.py'


def build(config: str):
    return build_model(Config.fromfile(osp.join(REPO, config))).eval()


def deployed(config: str):
    """The config's model with random weights and BN statistics, in deploy mode (contiguous weights)."""
    torch.manual_seed(0)
    model = build(config)
    randomise_bn(model)
    model.backbone.fuse(channels_last=False)
    return model


def test_classifier_exports_with_a_dynamic_batch_and_equals_pytorch(tmp_path):
    """Exported at batch 1, run at 1 and 3: the graph keeps deploy mode's choice of where the SE squeezes the last
    conv's input (batch 1's), which gives the same numbers as PyTorch's choice at batch 3; the tracer does not
    warn about it."""
    model = deployed(CLASSIFIER)
    path = str(tmp_path / 'cls.onnx')
    with warnings.catch_warnings():
        warnings.simplefilter('error', torch.jit.TracerWarning)
        assert export_onnx(model, path, (1, 3, 64, 64), metadata={'mean': '[1, 2, 3]'}) == ['logits']
    graph = onnx.load(path)
    assert graph.opset_import[0].version == OPSET
    assert {p.key: p.value for p in graph.metadata_props} == {'mean': '[1, 2, 3]'}
    for batch in (1, 3):  # exported at batch 1, run at 3
        images = torch.randn(batch, 3, 64, 64)
        assert max_output_difference(path, model, images) <= 1e-4
    logits = onnxruntime_session(path).run(None, {'images': torch.randn(3, 3, 64, 64).numpy()})[0]
    assert logits.shape == (3, 1000)


@pytest.mark.parametrize('backbone', [dict(type='mmpretrain.ResNet', depth=18, out_indices=(2, 3)),
                                      dict(type='se_plugins.SEResNet', depth=18, out_indices=(2, 3))])
def test_a_bare_backbone_exports_its_feature_maps(backbone, tmp_path):
    """A module that maps images to tensors exports too, mmpretrain's ResNet among them (its train()
    returns None, so export must not chain .eval())."""
    torch.manual_seed(0)
    model = MODELS.build(backbone)
    randomise_bn(model)
    model.train()
    path = str(tmp_path / 'backbone.onnx')
    assert export_onnx(model, path, (1, 3, 64, 64)) == ['output0', 'output1']
    assert not model.training
    assert max_output_difference(path, model, torch.randn(2, 3, 64, 64)) <= 1e-4


def test_static_batch_export_refuses_another_batch(tmp_path):
    model = build(CLASSIFIER)
    path = str(tmp_path / 'cls.onnx')
    export_onnx(model, path, (1, 3, 64, 64), dynamic_batch=False)
    with pytest.raises(Exception, match='images'):
        onnxruntime_session(path).run(None, {'images': torch.randn(2, 3, 64, 64).numpy()})


def test_detector_exports_its_features_and_dense_head_outputs(tmp_path):
    model = deployed(DETECTOR)
    path = str(tmp_path / 'det.onnx')
    names = export_onnx(model, path, (1, 3, 128, 128))
    levels = len(model.neck.out_channels if isinstance(model.neck.out_channels, list) else range(5))
    assert names == [f'{kind}{level}' for kind in ('feat', 'cls_score', 'bbox_pred') for level in range(levels)]
    images = torch.randn(2, 3, 128, 128)
    assert max_output_difference(path, model, images) <= 1e-4
    outputs = dict(zip(names, onnxruntime_session(path).run(None, {'images': images.numpy()})))
    # the RPN's raw outputs decode into proposals with mmdet's own code
    anchors = model.rpn_head.num_base_priors
    assert outputs['cls_score0'].shape == (2, anchors, 32, 32) and outputs['bbox_pred0'].shape == (2, 4 * anchors, 32,
                                                                                                   32)
    assert isinstance(for_export(model), DetectorForExport)


def test_export_refuses_what_is_neither_a_classifier_nor_a_detector():
    with pytest.raises(InputError, match='cannot export a ToyModel'):
        from helpers import ToyModel
        model = ToyModel()
        model.extract_feat = lambda x: x
        for_export(model)


def test_the_tool_exports_checks_and_records_the_normalisation(run_tool, tmp_path, capsys):
    out = str(tmp_path / 'sub' / 'model.onnx')
    result = run_tool(TOOL, osp.join(REPO, CLASSIFIER), '--out', out, '--shape', '64')
    assert result['outputs'] == ['logits'] and result['difference'] <= 1e-4
    metadata = {p.key: json.loads(p.value) for p in onnx.load(out).metadata_props}
    cfg = Config.fromfile(osp.join(REPO, CLASSIFIER)).data_preprocessor  # mmpretrain's: beside the model
    assert metadata == {'mean': list(cfg.mean), 'std': list(cfg.std), 'to_rgb': bool(cfg.to_rgb)}
    assert f'{out}: 1 outputs (logits), opset {OPSET}, input images Nx3x64x64; onnxruntime equals PyTorch within' \
        in capsys.readouterr().out


def test_the_tool_loads_a_checkpoint(run_tool, tmp_path):
    model = build(CLASSIFIER)
    torch.nn.init.constant_(model.head.fc.bias, 5.0)
    checkpoint = str(tmp_path / 'epoch_1.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    out = str(tmp_path / 'model.onnx')
    run_tool(TOOL, osp.join(REPO, CLASSIFIER), checkpoint, '--out', out, '--shape', '64', '--static-batch')
    bias = {i.name: i for i in onnx.load(out).graph.initializer}
    values = [onnx.numpy_helper.to_array(t) for t in bias.values() if tuple(t.dims) == (1000, )]
    assert any((v == 5.0).all() for v in values)


@pytest.mark.parametrize('args,message', [
    (['missing.py', '--out', 'x.onnx'], 'missing.py does not exist'),
    ([CLASSIFIER, '--out', 'x.onnx', '--shape', '64', '64', '64'], '--shape 64 64 64: expected a height'),
])
def test_the_tool_names_bad_input(run_tool, args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(InputError, match=re.escape(message)):
        run_tool(TOOL, *args)
    assert not osp.exists(osp.join(REPO, 'x.onnx'))


@pytest.mark.parametrize('config,size', [(CLASSIFIER, '64'), (DETECTOR, '128')])
def test_openvino_runs_the_export_as_pytorch_does(config, size, tmp_path):
    """The tool's check in OpenVINO (the CPU runtime docs/deploy.md recommends): the classifier's logits, the
    detector's backbone-and-neck features and dense head outputs within 1e-4 of PyTorch's."""
    out = tmp_path / 'model.onnx'
    result = subprocess.run([sys.executable, osp.join(REPO, 'tools', TOOL), osp.join(REPO, config), '--out', str(out),
                             '--shape', size, '--runtime', 'openvino'], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    difference = re.search(r'; openvino equals PyTorch within (\S+) on a batch of 2$', result.stdout, re.M)
    assert difference and float(difference.group(1)) <= 1e-4, result.stdout[-2000:]


def test_a_runtime_that_is_not_installed_is_one_error_before_anything_is_written(run_tool, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'openvino', None)  # what `import openvino` meets where it is not installed
    out = tmp_path / 'model.onnx'
    with pytest.raises(InputError, match=re.escape('the openvino runtime is not installed (pip install openvino')):
        run_tool(TOOL, osp.join(REPO, CLASSIFIER), '--out', str(out), '--runtime', 'openvino')
    assert list(tmp_path.iterdir()) == []


def test_the_tool_ends_bad_input_with_one_error_line(tmp_path):
    result = subprocess.run([sys.executable, osp.join(REPO, 'tools', TOOL), str(tmp_path / 'missing.py'), '--out',
                             str(tmp_path / 'x.onnx')], capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1] == (
        f'error: {tmp_path / "missing.py"} does not exist')
    assert list(tmp_path.iterdir()) == []
