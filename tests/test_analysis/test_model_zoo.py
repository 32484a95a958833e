import glob
import os.path as osp
import shutil

import pytest
import yaml

import se_plugins.analysis.model_zoo as model_zoo
from se_plugins.analysis.model_zoo import TASKS, ZooEntry, config_paths

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_metafiles_model_index_and_readme_are_up_to_date(run_tool):
    assert run_tool('misc/model_zoo.py', '--check') == []  # builds and counts every config


def test_every_config_is_in_one_metafile_and_the_readme():
    configs = {osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'configs', '*', '**', '*.py'), recursive=True)
               if '_base_' not in p}
    with open(osp.join(REPO, 'model-index.yml')) as f:
        imports = yaml.safe_load(f)['Import']
    listed = []
    for metafile in imports:
        with open(osp.join(REPO, metafile)) as f:
            content = yaml.safe_load(f)
        collections = {c['Name'] for c in content['Collections']}
        for model in content['Models']:
            assert model['In Collection'] in collections
            assert model['Metadata']['Parameters'] > 0 and model['Metadata']['FLOPs'] > 0
            listed.append(model['Config'])
    assert sorted(listed) == sorted(configs)
    with open(osp.join(REPO, 'README.md')) as f:
        readme = f.read()
    assert all(f']({config})' in readme for config in configs)
    # mim reads the index from the installed package too
    assert osp.samefile(osp.join(REPO, 'se_plugins', '.mim', 'model-index.yml'), osp.join(REPO, 'model-index.yml'))


@pytest.fixture
def fake_repo(tmp_path, monkeypatch, tool_globals):
    """A copy of the configs and README, with a counter that does not build models."""
    shutil.copytree(osp.join(REPO, 'configs'), tmp_path / 'configs')
    shutil.copy(osp.join(REPO, 'README.md'), tmp_path / 'README.md')

    def fake_measure(repo, config):
        name = osp.splitext(osp.basename(config))[0]
        return ZooEntry(name, config, 'the classifier', 1_000_000, 2_000_000_000,
                        model_zoo.PAPER_RESULTS.get(name))

    tool = tool_globals('misc/model_zoo.py')
    monkeypatch.setitem(tool['expected_files'].__globals__, 'measure_config', fake_measure)
    return tmp_path, tool['stale_files']


def test_a_changed_config_or_table_is_reported_and_rewritten(fake_repo):
    repo, stale_files = fake_repo
    names = ['configs/imagenet/metafile.yml', 'configs/places365/metafile.yml', 'configs/faster_rcnn/metafile.yml',
             'model-index.yml', 'README.md']
    assert stale_files(str(repo), write=True) == names  # the fake counts differ from the real ones
    assert stale_files(str(repo), write=False) == []
    readme = (repo / 'README.md').read_text()
    assert '| 1.00 | 2.00 | 23.29 / 6.62 | not trained yet |' in readme  # se-resnet50_8xb128-paper_in1k
    (repo / 'README.md').write_text(readme.replace('| 1.00 | 2.00 | 23.29', '| 9.99 | 2.00 | 23.29'))
    new_config = repo / 'configs' / 'imagenet' / 'se-resnet50_new_8xb128-paper_in1k.py'
    new_config.write_text("_base_ = './se-resnet50_8xb128-paper_in1k.py'\n")
    assert stale_files(str(repo), write=False) == ['configs/imagenet/metafile.yml', 'README.md']


def test_config_folders_are_the_tasks():
    folders = {osp.basename(p) for p in glob.glob(osp.join(REPO, 'configs', '*')) if osp.isdir(p)} - {'_base_'}
    assert folders == {task.folder for task in TASKS}
    assert config_paths(osp.join(REPO, 'configs'), TASKS[0])[0] == 'configs/imagenet/se-resnet101_8xb128-paper_in1k.py'
