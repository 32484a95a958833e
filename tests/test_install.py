"""What users install: the sdist and the wheel, installed non-editable into an environment that never
saw the repository, used from a directory outside it, by config inheritance and through mim."""
import glob
import os
import os.path as osp
import re
import sys
import tarfile
import textwrap
import zipfile

import pytest
import yaml

from se_plugins.datasets import make_places365

from helpers import REPO, build, free_port, succeeds, user_run

pytestmark = pytest.mark.slow
DISTRIBUTION = 'se-plugins-openmmlab'
TASK_CONFIGS = ['faster_rcnn/faster-rcnn_se-r50_fpn_1x_coco.py', 'imagenet/se-resnet50_8xb128-paper_in1k.py',
                'places365/se-resnet50_8xb32-scratch_places365.py']
SHIPPED = [  # what mim and mmengine read from se_plugins/.mim/, beside every config
    'model-index.yml', 'configs/faster_rcnn/metafile.yml', 'configs/imagenet/metafile.yml',
    'configs/places365/metafile.yml', 'configs/se_plugin/metafile.yml', 'configs/se_plugin/README.md',
    'configs/retinanet/metafile.yml', 'configs/mask_rcnn/metafile.yml', 'configs/_base_/datasets/places365_bs32.py',
    'tools/train.py',
    'tools/test.py', 'tools/dist_train.sh', 'tools/analysis_tools/get_flops.py', 'tools/misc/demo.py']


def repository_files(folder: str, pattern: str) -> list:
    return sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, folder, '**', pattern), recursive=True))


def model_names() -> list:
    with open(osp.join(REPO, 'model-index.yml')) as f:
        metafiles = yaml.safe_load(f)['Import']
    names = []
    for metafile in metafiles:
        with open(osp.join(REPO, metafile)) as f:
            names += [model['Name'] for model in yaml.safe_load(f)['Models']]
    return names


def test_the_sdist_and_the_wheel_carry_configs_tools_and_the_model_index(distributions):
    sdist, wheel = distributions
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split('/', 1)[1] for name in archive.getnames() if '/' in name}
    expected = ([f'se_plugins/.mim/{p}' for p in SHIPPED]
                + [f'se_plugins/.mim/{p}' for p in repository_files('configs', '*.py')]
                + ['se_plugins/datasets/categories_places365.txt', 'se_plugins/datasets/IO_places365.txt'])
    assert not [p for p in expected if p not in in_wheel]
    assert not [p for p in expected if p not in in_sdist]
    assert not [p for p in in_wheel if '__pycache__' in p or p.endswith('.pyc')]
    assert osp.basename(wheel).startswith('se_plugins_openmmlab-')


def test_a_user_config_of_each_task_inherits_ours_by_the_package_form(installed):
    python, project = installed
    script = textwrap.dedent(f'''
        import os, sys
        from mmengine.config import Config
        from mmengine.registry import MODELS, DefaultScope
        import se_plugins
        for i, base in enumerate({TASK_CONFIGS!r}):
            path = os.path.join({project!r}, f'my_config_{{i}}.py')
            with open(path, 'w') as f:
                f.write(f"_base_ = 'se_plugins::{{base}}'\\nmodel = dict(backbone=dict(se_ratio=8))\\n")
            cfg = Config.fromfile(path)
            cfg.model.backbone.init_cfg = None
            with DefaultScope.overwrite_default_scope(cfg.default_scope):
                model = MODELS.build(cfg.model)
            se = next(m for m in model.backbone.modules() if type(m).__name__ == 'SqueezeExcitation')
            print(base, type(model.backbone).__module__, cfg.model.backbone.se_ratio, se.fc1.weight.shape[0])
    ''')
    lines = succeeds(user_run(installed, '-c', script)).strip().splitlines()[-3:]
    for base, line in zip(TASK_CONFIGS, lines):
        name, module, ratio, squeezed = line.split()
        assert (name, ratio, squeezed) == (base, '8', '32')  # 256 channels / r=8 in the first stage
        assert module.startswith('se_plugins.models.backbones')


def test_a_user_config_builds_the_se_plugin_and_the_coco_dataset(installed):
    """From the wheel: a plugin config by the package form builds SEPlugin, and se_plugins.CocoDataset (which is
    not imported with the package) registers when the config asks for it."""
    python, project = installed
    script = textwrap.dedent(f'''
        import os
        import se_plugins
        from mmengine.config import Config
        from mmengine.registry import MODELS, DATASETS, DefaultScope
        path = os.path.join({project!r}, 'my_plugin_detector.py')
        with open(path, 'w') as f:
            f.write("_base_ = 'se_plugins::se_plugin/faster-rcnn_r50-se_fpn_1x_coco.py'\\n"
                    "model = dict(backbone=dict(plugins=[dict(cfg=dict(type='se_plugins.SEPlugin', ratio=8), "
                    "position='after_conv3')]))\\n")
        cfg = Config.fromfile(path)
        with DefaultScope.overwrite_default_scope('mmdet'):
            model = MODELS.build(cfg.model)
            dataset = DATASETS.get(cfg.train_dataloader.dataset.type)
        plugins = [m for m in model.backbone.modules() if type(m).__name__ == 'SEPlugin']
        print(len(plugins), plugins[0].squeeze_channels, dataset.__module__)
    ''')
    last = succeeds(user_run(installed, '-c', script)).strip().splitlines()[-1]
    assert last == '16 32 se_plugins.datasets.coco'  # one SE per bottleneck; 256 / r=8 in the first stage


def test_mim_lists_and_searches_the_package(installed):
    listed = succeeds(user_run(installed, '-m', 'mim', 'list'))
    assert re.search(rf'^{DISTRIBUTION}\s+0\.\d+\.\d+', listed, re.M), listed
    found = succeeds(user_run(installed, '-m', 'mim', 'search', DISTRIBUTION, '--field', 'config'))
    names = model_names()
    assert len(names) == len(set(names)) > 20
    assert not [name for name in names if name not in found]
    one = succeeds(user_run(installed, '-m', 'mim', 'search', DISTRIBUTION, '--config',
                            'se-resnet50_8xb128-paper_in1k'))
    assert 'se-resnet50_8xb128-paper_in1k' in one and 'se-resnet101_8xb128-paper_in1k' not in one


def test_mim_runs_get_flops_on_a_user_config(installed):
    python, project = installed
    with open(osp.join(project, 'my_classifier.py'), 'w') as f:
        f.write("_base_ = 'se_plugins::imagenet/se-resnet50_8xb128-paper_in1k.py'\n")
    out = succeeds(user_run(installed, '-m', 'mim', 'run', DISTRIBUTION, 'get_flops', 'my_classifier.py'))
    assert re.search(r'GFLOPs \(conv \+ fc, as the paper counts\): 4\.09\d', out), out


def test_mim_exports_a_user_config_to_onnx_and_the_wheel_trains_with_the_fused_se(installed):
    python, project = installed
    with open(osp.join(project, 'my_deployed_classifier.py'), 'w') as f:
        f.write("_base_ = 'se_plugins::imagenet/se-resnet50_8xb128-paper_in1k.py'\n"
                "model = dict(head=dict(num_classes=10))\n")
    out = succeeds(user_run(installed, '-m', 'mim', 'run', DISTRIBUTION, 'pytorch2onnx', 'my_deployed_classifier.py',
                            '--out', 'exported/model.onnx', '--shape', '64'))
    assert re.search(r'exported/model\.onnx: 1 outputs \(logits\), opset \d+, input images Nx3x64x64; onnxruntime '
                     r'equals PyTorch within \d\.\de-\d\d on a batch of 2', out), out
    assert osp.getsize(osp.join(project, 'exported', 'model.onnx')) > 1e6
    script = textwrap.dedent('''
        import torch
        import se_plugins
        from se_plugins.models.layers.fused_se import SEScaleAdd
        from se_plugins.registry import MODELS
        calls = []
        apply = SEScaleAdd.apply
        SEScaleAdd.apply = lambda *args: calls.append(1) or apply(*args)
        model = MODELS.build(dict(type='SEResNet', depth=50)).train()
        model(torch.randn(2, 3, 64, 64))[-1].sum().backward()
        print(len(calls), 'fused SE blocks;', se_plugins.__file__)
    ''')
    out = succeeds(user_run(installed, '-c', script))
    assert re.search(r'^16 fused SE blocks; .+/site-packages/se_plugins/__init__\.py$', out, re.M), out


def test_mim_trains_on_two_cpu_processes_and_tests(installed, tmp_path):
    """``mim train --launcher pytorch --gpus 2`` runs our tools/train.py under torch.distributed.launch
    (gloo on this CPU, DataLoader workers from each rank's fork server), the config found by its name in the
    installed package; ``mim test`` evaluates."""
    data_root = make_places365(str(tmp_path / 'data'), num_classes=3, train_per_class=4, val_per_class=2,
                               image_size=64)
    options = ['--cfg-options', 'train_cfg.max_epochs=1', 'train_dataloader.dataset.pipeline.1.scale=56',
               'model.backbone.depth=18', 'model.head.in_channels=512']
    for split in ('train', 'val', 'test'):
        options += [f'{split}_dataloader.dataset.data_root={data_root}', f'{split}_dataloader.batch_size=2',
                    f'{split}_dataloader.num_workers=0', f'{split}_dataloader.persistent_workers=False']
    train_options = ['train_dataloader.num_workers=2']
    options += ['val_dataloader.dataset.pipeline.1.scale=64', 'val_dataloader.dataset.pipeline.2.crop_size=56',
                'test_dataloader.dataset.pipeline.1.scale=64', 'test_dataloader.dataset.pipeline.2.crop_size=56']
    work_dir = str(tmp_path / 'work')
    trained = user_run(installed, '-m', 'mim', 'train', DISTRIBUTION, 'se-resnet50_8xb32-scratch_places365.py',
                       '--launcher', 'pytorch', '--gpus', '2', '--port', str(free_port()), '--work-dir', work_dir,
                       '--no-validate', *options, *train_options)
    out = succeeds(trained)
    assert 'Distributed training: True' in out + trained.stderr
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    assert 'accuracy/top1' not in out + trained.stderr  # --no-validate
    tested = succeeds(user_run(installed, '-m', 'mim', 'test', DISTRIBUTION, 'se-resnet50_8xb32-scratch_places365.py',
                               '--checkpoint', osp.join(work_dir, 'epoch_1.pth'), '--work-dir', work_dir, *options))
    assert re.search(r'accuracy/top1: \d+\.\d+', tested), tested[-2000:]


def test_python_starts_with_our_bases_hook_and_without_torch_or_mmengine(installed):
    """The .pth file that lets any launcher resolve ``se_plugins::`` bases imports only its own small module."""
    started = user_run(installed, '-X', 'importtime', '-c', 'pass')
    imported = re.findall(r'^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)\s*$', started.stderr, re.M)
    assert started.returncode == 0 and 'se_plugins_bases' in imported, started.stderr[-2000:]
    heavy = [name for name in imported if name.split('.')[0] in ('torch', 'mmengine', 'se_plugins', 'numpy')]
    assert not heavy


def test_pip_uninstall_leaves_no_file_of_ours(distributions, tmp_path):
    venv = tmp_path / 'venv'
    build([sys.executable, '-m', 'venv', '--without-pip', str(venv)], cwd=str(tmp_path))
    python = str(venv / 'bin' / 'python')
    site = build([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], cwd=str(tmp_path)).strip()
    pip = [sys.executable, '-m', 'pip', '--python', python, '-q', '--disable-pip-version-check']

    def files() -> set:
        return {osp.relpath(osp.join(folder, name), site) for folder, _, names in os.walk(site) for name in names}
    before = files()
    build([*pip, 'install', '--no-deps', distributions[1]], cwd=str(tmp_path))
    added = files() - before
    ours = {'se_plugins_bases.pth', 'se_plugins_bases/__init__.py', 'se_plugins/__init__.py'}
    assert ours <= added, sorted(added)[:20]
    build([*pip, 'uninstall', '-y', DISTRIBUTION], cwd=str(tmp_path))
    assert files() == before, sorted(files() - before)


def test_the_editable_install_resolves_our_bases_before_anything_imports_se_plugins(tmp_path):
    """This environment's editable install has the start-up file too: mmengine alone reads a config inheriting
    ours (without running its custom_imports)."""
    config = tmp_path / 'mine.py'
    config.write_text("_base_ = 'se_plugins::imagenet/se-resnet50_8xb32_in1k.py'\n")
    script = ('import sys; from mmengine.config import Config; '
              f'cfg = Config.fromfile({str(config)!r}, import_custom_modules=False); '
              "print(cfg.model.backbone.type, 'se_plugins' in sys.modules)")
    assert build([sys.executable, '-c', script], cwd=str(tmp_path)).split()[-2:] == ['se_plugins.SEResNet', 'False']
