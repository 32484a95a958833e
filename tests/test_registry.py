from mmengine.registry import DefaultScope
from mmpretrain.models.backbones import SEResNet as MmpretrainSEResNet

from se_plugins.models.backbones import SEResNet
from se_plugins.registry import MODELS


def test_our_registry_builds_our_class_whatever_the_default_scope():
    for scope in ('mmpretrain', 'mmengine', 'mmdet', None):
        with DefaultScope.overwrite_default_scope(scope):
            model = MODELS.build(dict(type='SEResNet', depth=18))
        assert type(model) is SEResNet and not isinstance(model, MmpretrainSEResNet), scope
