"""The config snippets README shows parse and build their models."""
import os.path as osp
import re

import pytest
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

import se_plugins  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
with open(osp.join(REPO, 'README.md')) as f:
    SNIPPETS = [block for block in re.findall(r'```python\n(.*?)```', f.read(), re.S)
                if block.startswith("_base_ = 'mm")]


def test_readme_has_the_mmdet_and_mmpretrain_snippets():
    assert len(SNIPPETS) == 2


@pytest.mark.parametrize('snippet', SNIPPETS, ids=['mmpretrain', 'mmdet'])
def test_snippet_builds(snippet, tmp_path):
    path = tmp_path / 'snippet.py'
    path.write_text(snippet)
    cfg = Config.fromfile(str(path))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == 'SEResNet' and type(model.backbone).__module__.startswith('se_plugins')
