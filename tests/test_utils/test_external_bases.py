import collections
import os
import os.path as osp

import mmengine.config.utils as config_utils
import pytest
from mmengine.config import Config

from se_plugins.utils.external_bases import _MetafileReader

from helpers import REPO

DETECTOR = osp.join(REPO, 'configs', 'faster_rcnn', 'faster-rcnn_se-r50_fpn_1x_coco.py')


@pytest.fixture
def reads(monkeypatch):
    """Counts the files mmengine's reader parses, behind a new reader of ours."""
    assert isinstance(config_utils.load, _MetafileReader), 'importing se_plugins installs the reader'
    parse = config_utils.load.read
    counts = collections.Counter()

    def counted(file, *args, **kwargs):
        counts[file] += 1
        return parse(file, *args, **kwargs)

    monkeypatch.setattr(config_utils, 'load', _MetafileReader(counted))
    return counts


def test_a_config_with_package_bases_reads_each_metafile_once_a_process_and_loads_as_mmengine_loads_it(
        reads, monkeypatch):
    first = Config.fromfile(DETECTOR)
    assert reads and set(reads.values()) == {1}, 'every metafile read once, however many bases name the package'
    assert any(path.endswith(osp.join('mmdet', '.mim', 'model-index.yml')) for path in reads)
    read_first = sum(reads.values())
    again = Config.fromfile(DETECTOR)
    assert sum(reads.values()) == read_first, 'a second load reads no metafile again'
    monkeypatch.setattr(config_utils, 'load', config_utils.load.read)  # mmengine's own reading
    assert again.to_dict() == first.to_dict() == Config.fromfile(DETECTOR).to_dict()


def test_a_metafile_that_changed_is_read_again(reads, tmp_path):
    metafile = tmp_path / 'metafile.yml'
    metafile.write_text('Models: []\n')
    assert config_utils.load(str(metafile)) == config_utils.load(str(metafile)) == {'Models': []}
    metafile.write_text('Models: [{Name: a, Config: configs/a.py}]\n')
    os.utime(metafile, ns=(0, 0))  # even with the old time, the size differs
    assert config_utils.load(str(metafile)) == {'Models': [{'Name': 'a', 'Config': 'configs/a.py'}]}
    assert reads[str(metafile)] == 2
