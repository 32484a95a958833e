"""README and docs: the config snippets README shows build SE models, every relative link resolves, and the
README stays short (reference material lives in docs/)."""
import glob
import os
import os.path as osp
import re
import subprocess

import pytest
from mmengine.config import Config

import se_plugins  # noqa: F401
from se_plugins.building import build_model
from se_plugins.models.layers import SqueezeExcitation

from helpers import REPO

with open(osp.join(REPO, 'README.md')) as f:
    README = f.read()
SNIPPETS = [block for block in re.findall(r'```python\n(.*?)```', README, re.S) if block.startswith("_base_ = 'mm")]
DOCUMENTS = ['README.md'] + sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'docs', '*.md'))
                                   + glob.glob(osp.join(REPO, 'configs', '*', 'README.md')))


def test_readme_has_the_mmpretrain_mmdet_and_plugin_snippets():
    assert len(SNIPPETS) == 3


@pytest.mark.parametrize('snippet', SNIPPETS, ids=['mmpretrain', 'mmdet', 'mmdet-plugin'])
def test_snippet_builds_an_se_model(snippet, tmp_path):
    path = tmp_path / 'snippet.py'
    path.write_text(snippet)
    cfg = Config.fromfile(str(path))
    model = build_model(cfg)
    se_modules = [m for m in model.backbone.modules() if isinstance(m, SqueezeExcitation)]
    assert len(se_modules) == 16  # one per bottleneck of a ResNet-50: ours, or mmdet's with the plugin


def test_readme_is_short():
    assert len(README.encode()) < 12 * 1024


def relative_links(text: str) -> list:
    text = re.sub(r'```.*?```', '', text, flags=re.S)  # code is not linked
    return [link.split('#')[0] for link in re.findall(r'\]\(([^)\s]+)\)', text)
            if not re.match(r'^[a-z]+:', link) and not link.startswith('#')]


@pytest.mark.parametrize('document', DOCUMENTS)
def test_every_relative_link_resolves(document):
    links = relative_links(open(osp.join(REPO, document)).read())
    missing = [link for link in links if not osp.exists(osp.join(REPO, osp.dirname(document), link))]
    assert not missing, missing


def test_the_link_check_sees_links():
    assert relative_links('[a](docs/x.md) [b](https://x.org) [c](#top) `[d](y.md)`\n```\n[e](z.md)\n```') == \
        ['docs/x.md', 'y.md']


def test_the_readme_commands_run_as_written_from_a_shell_that_activated_nothing():
    """README's activation line, then its tools/test.py line, typed in a fresh shell (no venv on PATH): the
    tool runs (and, without that checkpoint here, ends with its own one-line error), rather than
    ``ModuleNotFoundError: No module named 'torch'``."""
    block = re.search(r'## Train and test\n.*?```bash\n(.*?)```', README, re.S).group(1).splitlines()
    activate, test = block[0], next(line for line in block if line.startswith('python tools/test.py'))
    assert activate == 'source .venv/bin/activate'
    fresh_shell = {'PATH': '/usr/local/bin:/usr/bin:/bin', 'HOME': os.environ.get('HOME', '/root')}
    result = subprocess.run(['bash', '-c', f'{activate} && {test}'], cwd=REPO, env=fresh_shell, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        'error: checkpoint work_dirs/faster_rcnn_se_r50_coco/epoch_12.pth: no such file')
