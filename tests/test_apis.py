"""Our models by name: se_plugins.list_models/get_model, mmpretrain's model hub and inferencers, mmdet's
DetInferencer; the public weights each metafile names fit its config's model, tensor for tensor."""
import json
import os.path as osp

import mmpretrain
import pytest
import timm
import torch
import yaml
from mmengine.config import Config

import se_plugins
from se_plugins.apis import MODEL_INDEX
from se_plugins.building import build_model, in_scope, without_initialisation
from se_plugins.converters import convert_state_dict
from se_plugins.datasets import make_coco_detection
from se_plugins.utils import InputError

from helpers import REPO, randomize


def metafile_models() -> dict:
    with open(osp.join(REPO, 'model-index.yml')) as f:
        metafiles = yaml.safe_load(f)['Import']
    return {model['Name']: model for metafile in metafiles
            for model in yaml.safe_load(open(osp.join(REPO, metafile)))['Models']}


def test_every_model_of_the_zoo_has_its_name():
    models = metafile_models()
    assert se_plugins.list_models() == sorted(models)
    assert se_plugins.list_models('senet154*') == ['senet154_8xb128-paper_in1k']
    with open(MODEL_INDEX) as f:
        assert {model['Name']: model for model in json.load(f)['Models']} == models


def test_an_unknown_name_says_the_closest_ones():
    with pytest.raises(InputError, match=r"no se_plugins model is named 'se-resnet50_8xb32_in1kk'; did you mean "
                                         r"'se-resnet50_8xb32_in1k'"):
        se_plugins.get_model('se-resnet50_8xb32_in1kk')
    with pytest.raises(InputError, match='faster-rcnn_se-r50_fpn_1x_coco has no public weights'):
        se_plugins.get_model('faster-rcnn_se-r50_fpn_1x_coco', pretrained=True)


@pytest.mark.parametrize('name', [name for name, model in metafile_models().items() if model.get('Weights')])
def test_the_public_weights_a_metafile_names_fit_its_model_exactly(name):
    """Converted from the source network's tensors (their values never drawn), every tensor of the config's model
    is given, none is left over, every shape is equal."""
    model = metafile_models()[name]
    tag = model['Weights'][len('timm://'):]
    with without_initialisation():
        peer = timm.create_model(tag.split('.')[0], pretrained=False)
        ours = build_model(Config.fromfile(osp.join(REPO, model['Config'])))
    converted, meta = convert_state_dict(peer.state_dict(), 'timm', tag.split('.')[0])
    expected = {key: value.shape for key, value in ours.state_dict().items()}
    assert {key: value.shape for key, value in converted.items()} == expected
    assert meta['num_classes'] == ours.head.num_classes


def test_mmpretrain_and_its_inferencer_load_a_classifier_by_our_name(hub_caches, tmp_path):
    assert 'se-resnet50_8xb32_in1k' in mmpretrain.list_models('se-resnet50*')
    peer = randomize(timm.create_model('seresnet50', pretrained=False), 64)
    hub_caches.place_timm_weights('seresnet50.a1_in1k', peer.state_dict())
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    for model in (mmpretrain.get_model('se-resnet50_8xb32_in1k', pretrained=True),
                  se_plugins.get_model('se-resnet50_8xb32_in1k', pretrained=True)):
        with torch.no_grad():
            torch.testing.assert_close(model(x), peer(x), rtol=0, atol=1e-4)
    image = tmp_path / 'image.jpg'
    import cv2
    cv2.imwrite(str(image), (torch.rand(72, 96, 3) * 255).byte().numpy())
    from mmpretrain.apis import ImageClassificationInferencer
    with in_scope('mmpretrain'):  # it builds its pipeline in the default scope, which a detector's run may have left
        result = ImageClassificationInferencer('se-resnet50_8xb32_in1k', pretrained=True)(str(image))[0]
    assert result['pred_class'] in mmpretrain.datasets.ImageNet.METAINFO['classes']


def test_a_detector_by_name_in_mmdets_inferencer_and_get_model(tmp_path):
    from mmdet.apis import DetInferencer
    root = make_coco_detection(str(tmp_path / 'coco'), num_train=1, num_val=1, image_size=96)
    image = osp.join(root, 'val2017', '000001.jpg')
    inferencer = se_plugins.apis.inferencer('faster-rcnn_se-r50_fpn_cpu-demo_shapes', show_progress=False)
    assert isinstance(inferencer, DetInferencer)
    prediction = inferencer(image)['predictions'][0]
    assert set(prediction) >= {'labels', 'scores', 'bboxes'}
    detector = se_plugins.get_model('faster-rcnn_se-r50_fpn_cpu-demo_shapes')
    assert type(detector.backbone).__module__ == 'se_plugins.models.backbones.se_resnet'
    assert not detector.training
