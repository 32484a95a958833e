import glob
import os.path as osp
import shutil

import pytest
import yaml

from helpers import REPO


@pytest.fixture(scope='module')
def model_zoo():
    """tools/misc/model_zoo.py's functions."""
    import runpy
    return runpy.run_path(osp.join(REPO, 'tools', 'misc', 'model_zoo.py'))


def test_metafiles_model_index_and_readme_are_up_to_date(run_tool):
    assert run_tool('misc/model_zoo.py', '--check') == []  # builds and counts every config


def test_every_config_is_in_one_metafile_and_its_task_readme():
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
    for config in configs:
        folder = config.split('/')[1]
        with open(osp.join(REPO, 'configs', folder, 'README.md')) as f:
            assert f']({osp.relpath(config, osp.join("configs", folder))})' in f.read(), config
    with open(osp.join(REPO, 'README.md')) as f:
        readme = f.read()
    assert all(f'](configs/{folder}/README.md)' in readme for folder in {c.split('/')[1] for c in configs})
    # mim reads the index from the installed package too
    assert osp.samefile(osp.join(REPO, 'se_plugins', '.mim', 'model-index.yml'), osp.join(REPO, 'model-index.yml'))


@pytest.fixture
def fake_repo(tmp_path, monkeypatch, tool_globals):
    """A copy of the configs and README, with a counter that does not build models."""
    shutil.copytree(osp.join(REPO, 'configs'), tmp_path / 'configs')
    shutil.copy(osp.join(REPO, 'README.md'), tmp_path / 'README.md')
    tool = tool_globals('misc/model_zoo.py')

    def fake_measure(repo, config):
        name = osp.splitext(osp.basename(config))[0]
        return tool['ZooEntry'](name, config, 'the classifier', 1_000_000, 2_000_000_000,
                                tool['PAPER_RESULTS'].get(name))

    monkeypatch.setitem(tool['expected_files'].__globals__, 'measure_config', fake_measure)
    return tmp_path, tool['stale_files']


def test_a_changed_config_or_table_is_reported_and_rewritten(fake_repo, model_zoo):
    repo, stale_files = fake_repo
    names = [f'configs/{task.folder}/{name}' for task in model_zoo['TASKS'] for name in ('metafile.yml', 'README.md')]
    # the fake counts differ from the real ones; the copy has no model-index.yml yet
    assert stale_files(str(repo), write=True) == names + ['model-index.yml', 'se_plugins/model-index.json', 'README.md']
    assert stale_files(str(repo), write=False) == []
    readme = repo / 'configs' / 'imagenet' / 'README.md'
    text = readme.read_text()
    assert '| 1.00 | 2.00 | 23.29 / 6.62 | not trained yet |' in text  # se-resnet50_8xb128-paper_in1k
    readme.write_text(text.replace('| 1.00 | 2.00 | 23.29', '| 9.99 | 2.00 | 23.29'))
    new_config = repo / 'configs' / 'imagenet' / 'se-resnet50_new_8xb128-paper_in1k.py'
    new_config.write_text("_base_ = './se-resnet50_8xb128-paper_in1k.py'\n")
    assert stale_files(str(repo), write=False) == ['configs/imagenet/metafile.yml', 'configs/imagenet/README.md',
                                                   'se_plugins/model-index.json',
                                                   'README.md']  # README's summary counts the configs


def test_config_folders_are_the_tasks(model_zoo):
    folders = {osp.basename(p) for p in glob.glob(osp.join(REPO, 'configs', '*')) if osp.isdir(p)} - {'_base_'}
    tasks = model_zoo['TASKS']
    assert folders == {task.folder for task in tasks}
    assert model_zoo['config_paths'](osp.join(REPO, 'configs'), tasks[0])[0] == \
        'configs/imagenet/se-bninception_8xb128-paper_in1k.py'
