import subprocess
import sys
import textwrap

from mmengine.registry import DefaultScope
from mmpretrain.models.backbones import SEResNet as MmpretrainSEResNet

from se_plugins.models.backbones import SEResNet
from se_plugins.registry import MODELS


def test_our_registry_builds_our_class_whatever_the_default_scope():
    for scope in ('mmpretrain', 'mmengine', 'mmdet', None):
        with DefaultScope.overwrite_default_scope(scope):
            model = MODELS.build(dict(type='SEResNet', depth=18))
        assert type(model) is SEResNet and not isinstance(model, MmpretrainSEResNet), scope


NO_MMDET = textwrap.dedent('''
    import importlib.abc, sys
    class NoMmdet(importlib.abc.MetaPathFinder):  # as if mmdet were not installed
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] == 'mmdet':
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, NoMmdet())
''')


def run_python(script: str) -> list:
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split()


def test_classification_needs_no_mmdet():
    """se_plugins imports no mmdet of its own (mmpretrain imports it where it is installed, optionally): without
    it, the package, the classification models and datasets work, and se_plugins.CocoDataset says what it needs."""
    script = NO_MMDET + textwrap.dedent('''
        import se_plugins
        from mmengine.registry import DATASETS, MODELS, DefaultScope
        from se_plugins.utils import InputError
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            model = MODELS.build(dict(type='ImageClassifier', backbone=dict(type='se_plugins.SEResNet', depth=18),
                                      neck=dict(type='GlobalAveragePooling'),
                                      head=dict(type='LinearClsHead', num_classes=365, in_channels=512)))
        places365 = DATASETS.get('se_plugins.Places365')
        try:
            DATASETS.get('se_plugins.CocoDataset')
        except InputError as error:
            print('error:', error)
        print(type(model.backbone).__name__, places365.__name__, 'mmdet' in sys.modules)
    ''')
    words = run_python(script)
    assert words[-3:] == ['SEResNet', 'Places365', 'False']
    assert ' '.join(words[:-3]).endswith("error: se_plugins.CocoDataset needs mmdet, which is not installed "
                                         "(pip install onedl-mmdetection, or mmdet)")


def test_coco_registers_when_a_config_first_asks_for_it():
    script = textwrap.dedent('''
        import se_plugins
        from mmengine.registry import DATASETS
        before = 'CocoDataset' in DATASETS._children['se_plugins'].module_dict
        coco = DATASETS.get('se_plugins.CocoDataset')
        from se_plugins.datasets import CocoDataset
        print(before, coco.__module__, coco is CocoDataset)
    ''')
    assert run_python(script)[-3:] == ['False', 'se_plugins.datasets.coco', 'True']
