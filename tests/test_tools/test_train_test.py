"""End to end on generated data, on CPU: tools/train.py trains and checkpoints, tools/test.py
evaluates, for each task; configs outside the repository inherit ours; 2-process DDP."""
import glob
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

import se_plugins
from se_plugins.datasets import make_coco_detection, make_imagenet, make_places365

from helpers import REPO, assert_same_weights, free_port, run_command_line, torchrun_command, train_command

pytestmark = pytest.mark.slow
SPLITS = ('train', 'val', 'test')


def options(values: dict) -> list:
    return ['--cfg-options'] + [f'{k}={v}' for k, v in values.items()]


def loader_options(data_root: str, batch_size: int) -> dict:
    values = {}
    for split in SPLITS:
        values.update({f'{split}_dataloader.dataset.data_root': data_root,
                       f'{split}_dataloader.batch_size': batch_size,
                       f'{split}_dataloader.num_workers': 0,
                       f'{split}_dataloader.persistent_workers': False})
    return values


@pytest.fixture(scope='module')
def coco_root(module_tmp_path):
    return make_coco_detection(str(module_tmp_path / 'coco'), num_train=8, num_val=4, image_size=96)


def detection_options(coco_root: str) -> dict:
    """The COCO config on the generated set: its classes, small images, fewer proposals, 1 epoch."""
    ann = osp.join(coco_root, 'annotations', 'instances_val2017.json')
    values = loader_options(coco_root + '/', 2)
    for split in SPLITS:
        values[f'{split}_dataloader.dataset.metainfo.classes'] = "('square','circle','triangle')"
        values[f'{split}_dataloader.dataset.pipeline.{2 if split == "train" else 1}.scale'] = '(96,96)'
    values.update({
        'val_evaluator.ann_file': ann, 'test_evaluator.ann_file': ann,
        'model.backbone.init_cfg': None, 'model.roi_head.bbox_head.num_classes': 3,
        'model.train_cfg.rpn_proposal.max_per_img': 300, 'model.train_cfg.rcnn.sampler.num': 128,
        'model.test_cfg.rpn.max_per_img': 100, 'train_cfg.max_epochs': 1,
    })
    return values


def classification_options(data_root: str, crop: int = 56) -> dict:
    """Small images: crop 56 for training, resize 64 and crop 56 for evaluation; 1 epoch."""
    values = loader_options(data_root, 4)
    values.update({'train_dataloader.dataset.pipeline.1.scale': crop, 'train_cfg.max_epochs': 1})
    for split in ('val', 'test'):
        values.update({f'{split}_dataloader.dataset.pipeline.1.scale': crop + 8,
                       f'{split}_dataloader.dataset.pipeline.2.crop_size': crop})
    return values


def upstream_tool(package: str, tool: str, *args: str) -> str:
    """Run ``package``'s own analysis tool (as its wheel ships it) and return what it printed."""
    folder = osp.join(osp.dirname(__import__(package).__file__), '.mim', 'tools', 'analysis_tools')
    result = subprocess.run([sys.executable, osp.join(folder, tool), *args], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def train_and_test(run_tool, config: str, values: dict, work_dir: str, *extra: str) -> dict:
    run_tool('train.py', config, '--work-dir', work_dir, *extra, *options(values))
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(checkpoint)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip() == checkpoint
    return run_tool('test.py', config, checkpoint, '--work-dir', work_dir, *extra, *options(values))


def test_faster_rcnn_entry_config_trains_and_evaluates(coco_root, tmp_path, run_tool):
    """With --data-root alone pointing the config at the data: datasets and the COCO evaluator."""
    values = {key: value for key, value in detection_options(coco_root).items()
              if not key.endswith(('.data_root', 'evaluator.ann_file'))}
    config, work_dir = osp.join(REPO, 'configs', 'faster_rcnn_se_r50_coco.py'), str(tmp_path / 'work')
    metrics = train_and_test(run_tool, config, values, work_dir, '--data-root', coco_root)
    # pycocotools reports -1 where no ground truth of the config's classes was found; one epoch on 8 images
    # learns nothing yet (learning is what the demo tests assert)
    assert 0 <= metrics['coco/bbox_mAP'] <= 1 and 0 <= metrics['coco/bbox_mAP_50'] <= 1

    # --out and --show-dir as mmdet's test tool has them: mmdet's own eval_metric.py reads the predictions
    predictions = str(tmp_path / 'predictions.pkl')
    test = [config, osp.join(work_dir, 'epoch_1.pth'), '--work-dir', work_dir, '--data-root', coco_root]
    assert run_tool('test.py', *test, '--out', predictions, '--show-dir', 'drawn', *options(values)) == metrics
    drawn = glob.glob(osp.join(work_dir, '*', 'drawn', '*.jpg'))  # in the run's log folder, as mmdet puts them
    assert sorted(osp.basename(p) for p in drawn) == sorted(os.listdir(osp.join(coco_root, 'val2017')))
    ann = osp.join(coco_root, 'annotations', 'instances_val2017.json')
    evaluated = upstream_tool('mmdet', 'eval_metric.py', config, predictions, '--cfg-options',
                              f'test_dataloader.dataset.data_root={coco_root}/', f'val_evaluator.ann_file={ann}',
                              "test_dataloader.dataset.metainfo.classes=('square','circle','triangle')")
    assert float(re.findall(r"'coco/bbox_mAP': (-?[\d.]+)", evaluated)[-1]) == metrics['coco/bbox_mAP']
    tta = run_tool('test.py', *test, '--tta', *options(values))  # the image and its mirror, boxes merged
    assert 0 <= tta['coco/bbox_mAP'] <= 1


@pytest.mark.parametrize('config, make', [
    ('configs/places365/se-resnet50_8xb32-scratch_places365.py', make_places365),
    ('configs/imagenet/se-resnet50_8xb128-paper_in1k.py', make_imagenet),
])
def test_classification_config_trains_and_evaluates(config, make, tmp_path, run_tool):
    data_root = make(str(tmp_path / 'data'), num_classes=3, train_per_class=4, val_per_class=2, image_size=64)
    work_dir = str(tmp_path / 'work')
    metrics = train_and_test(run_tool, osp.join(REPO, config), classification_options(data_root), work_dir)
    assert 0 <= metrics['accuracy/top1'] <= metrics['accuracy/top5'] <= 100
    train_log, = (p for p in glob.glob(osp.join(work_dir, '*', '*.log')) if 'Epoch(train)' in open(p).read())
    with open(train_log) as f:
        log = f.read()
    # the logged environment is this CPU's: gloo, processes, no GPU count
    assert "'backend': 'gloo'" in log and "'backend': 'nccl'" not in log
    assert 'CPU processes (no GPU): 1' in log and 'GPU number' not in log
    test = [osp.join(REPO, config), osp.join(work_dir, 'epoch_1.pth'), '--work-dir', work_dir]
    fused = run_tool('test.py', *test, '--fuse-conv-bn', *options(classification_options(data_root)))
    assert fused == metrics  # deploy mode: BN folded into the convs, the same predictions
    if make is make_imagenet:
        return
    # --out, --show-dir and --tta as mmpretrain's test tool has them: its own confusion_matrix.py reads --out
    predictions, drawn = str(tmp_path / 'predictions.pkl'), str(tmp_path / 'drawn')
    assert run_tool('test.py', *test, '--out', predictions, '--show-dir', drawn,
                    *options(classification_options(data_root))) == metrics
    assert len(os.listdir(drawn)) == 6  # every validation image: 3 classes x 2
    picture = str(tmp_path / 'confusion.png')
    upstream_tool('mmpretrain', 'confusion_matrix.py', osp.join(REPO, config), predictions, '--show-path', picture)
    assert osp.getsize(picture) > 10_000
    tta = run_tool('test.py', *test, '--tta', *options(classification_options(data_root)))
    assert 0 <= tta['accuracy/top1'] <= 100


# The paper's other networks: each config trains an epoch (2 iterations) and evaluates on generated data.
# VGG's fully connected layers need 224x224 inputs; BN-Inception sides that are multiples of 32;
# Inception-ResNet-v2's unpadded convs at least 75x75.
NETWORK_CONFIGS = [
    ('configs/imagenet/se-vgg16-bn_8xb128-paper_in1k.py', make_imagenet, 224),
    ('configs/imagenet/se-bninception_8xb128-paper_in1k.py', make_imagenet, 64),
    ('configs/imagenet/se-inception-resnet-v2_8xb128-paper_in1k.py', make_imagenet, 96),
    ('configs/imagenet/se-mobilenet-v1_8xb32-paper_in1k.py', make_imagenet, 56),
    ('configs/imagenet/se-shufflenet-v1-1x-g3_8xb32-paper_in1k.py', make_imagenet, 56),
    ('configs/places365/se-mobilenet-v1_8xb32-scratch_places365.py', make_places365, 56),
]


@pytest.mark.parametrize('config, make, crop', NETWORK_CONFIGS, ids=[osp.basename(c[0]) for c in NETWORK_CONFIGS])
def test_the_papers_other_networks_train_from_their_configs(config, make, crop, tmp_path, run_tool):
    data_root = make(str(tmp_path / 'data'), num_classes=3, train_per_class=2, val_per_class=1, image_size=64)
    work_dir = str(tmp_path / 'work')
    values = dict(classification_options(data_root, crop), **{'default_hooks.logger.interval': 1})
    run_tool('train.py', osp.join(REPO, config), '--work-dir', work_dir, *options(values))
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    scalars, = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(scalars) as f:
        records = [json.loads(line) for line in f]
    losses = [r['loss'] for r in records if 'loss' in r]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))  # 6 images, batch 4
    accuracy, = [r['accuracy/top1'] for r in records if 'accuracy/top1' in r]  # the generated val split
    assert 0 <= accuracy <= 100


@pytest.mark.parametrize('form', ['path', 'package'])
def test_a_config_outside_the_repository_inherits_ours(form, coco_root, tmp_path, capfd, run_tool):
    base = {'path': osp.join(REPO, 'configs', 'faster_rcnn_se_r50_coco.py'),
            'package': 'se_plugins::faster_rcnn/faster-rcnn_se-r50_fpn_1x_coco.py'}[form]
    project = tmp_path / 'my_project'
    project.mkdir()
    config = project / 'my_detector.py'
    config.write_text(f"_base_ = '{base}'\n"
                      "model = dict(rpn_head=dict(anchor_generator=dict(scales=[4])))\n")
    metrics = train_and_test(run_tool, str(config), detection_options(coco_root), str(tmp_path / 'work'))
    assert 0 <= metrics['coco/bbox_mAP'] <= 1
    output = capfd.readouterr()
    assert 'Failed to search registry' not in output.out + output.err  # every dict kept its scope
    dumped = Config.fromfile(str(tmp_path / 'work' / 'my_detector.py'))  # what the run used
    assert dumped.model.rpn_head.anchor_generator.scales == [4]
    assert dumped.model.backbone.type == 'se_plugins.SEResNet'


@pytest.mark.parametrize('tool', ['train.py', 'test.py'])
def test_bad_input_ends_the_tool_with_one_error_line_and_destroys_nothing(tool, coco_root, tmp_path):
    root = shutil.copytree(coco_root, tmp_path / 'coco')
    split = 'train' if tool == 'train.py' else 'val'
    ann = root / 'annotations' / f'instances_{split}2017.json'
    broken = ann.read_text()[:50]
    ann.write_text(broken)
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    earlier = work_dir / 'epoch_1.pth'
    torch.save({'state_dict': {}}, earlier)  # a complete checkpoint of an earlier run
    earlier_bytes = earlier.read_bytes()
    checkpoint = [str(earlier)] if tool == 'test.py' else []
    result = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', tool), osp.join(REPO, 'configs', 'faster_rcnn_se_r50_coco.py'),
         *checkpoint, '--work-dir', str(work_dir), *options(detection_options(str(root)))],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]
    assert re.fullmatch(f'error: {re.escape(str(ann))}: not valid JSON: .+ \\(line 1, column \\d+\\)',
                        result.stderr.strip().splitlines()[-1])
    assert 'Traceback' not in result.stderr
    assert earlier.read_bytes() == earlier_bytes and ann.read_text() == broken


def test_two_processes_equal_one_process_with_the_same_global_batch(tmp_path, run_tool):
    """2 gloo processes x batch 2 end where 1 process x batch 4 ends, to float rounding.

    With a batch-independent model: BN computes its statistics per rank (SyncBN needs a GPU), so
    here the backbone uses GroupNorm; and no random augmentation, whose draws differ per rank.
    """
    data_root = make_places365(str(tmp_path / 'data'), num_classes=2, train_per_class=8, val_per_class=1,
                               image_size=64)
    config = tmp_path / 'ddp_places365.py'
    config.write_text(
        f"_base_ = '{REPO}/configs/places365/se-resnet50_8xb32-scratch_places365.py'\n"
        "model = dict(backbone=dict(norm_cfg=dict(type='GN', num_groups=32)))\n"
        "train_dataloader = dict(dataset=dict(pipeline=[dict(type='LoadImageFromFile'), "
        "dict(type='ResizeEdge', scale=64, edge='short'), dict(type='CenterCrop', crop_size=56), "
        "dict(type='PackInputs')]))\n"
        "custom_hooks = [dict(type='se_plugins.DistributedWeightCheckHook')]\n"
        "randomness = dict(seed=0, deterministic=True)\n")
    values = classification_options(data_root)
    # --auto-scale-lr: lr 0.1 is for a global batch of 8, so every run with a global batch of 4 uses 0.05
    values.update({'train_cfg.val_interval': 5, 'optim_wrapper.optimizer.lr': 0.1,
                   'auto_scale_lr.base_batch_size': 8})
    env = dict(os.environ, PATH=osp.dirname(sys.executable) + os.pathsep + os.environ['PATH'],
               PORT=str(free_port()), OMP_NUM_THREADS='1')
    two = tmp_path / 'two_processes'
    result = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'dist_train.sh'), str(config), '2', '--work-dir', str(two), '--auto-scale-lr',
         *options(dict(values, **{'train_dataloader.batch_size': 2}))],
        capture_output=True, text=True, env=env, timeout=600)
    problems = [line for line in result.stderr.splitlines() if 'Error' in line or 'terminate' in line]
    assert result.returncode == 0, '\n'.join(problems) or result.stderr[-3000:]
    assert 'Distributed training: True' in result.stdout
    assert 'all 2 ranks hold the same parameters and buffers' in result.stdout
    with open(two / 'weight_digests.json') as f:
        digests = json.load(f)
    assert len(digests) == 2 and digests[0] == digests[1]

    def one_process(batch_size: int) -> dict:
        work_dir = tmp_path / f'one_process_batch{batch_size}'
        run_tool('train.py', str(config), '--work-dir', str(work_dir), '--auto-scale-lr',
                 *options(dict(values, **{'train_dataloader.batch_size': batch_size})))
        return torch.load(work_dir / 'epoch_1.pth', map_location='cpu', weights_only=False)

    distributed = torch.load(two / 'epoch_1.pth', map_location='cpu', weights_only=False)
    same_batch, half_batch = one_process(4), one_process(2)
    learning_rates = [checkpoint['optimizer']['param_groups'][0]['lr']
                      for checkpoint in (distributed, same_batch, half_batch)]
    assert learning_rates == [pytest.approx(0.05), pytest.approx(0.05), pytest.approx(0.025)]
    assert distributed['meta']['iter'] == same_batch['meta']['iter'] == 4  # 16 images, global batch 4
    weights = distributed['state_dict']
    assert weights.keys() == same_batch['state_dict'].keys()
    # Float summation order differs (the gradient all-reduce, 1 vs 2 threads): measured up to 2.4e-5
    # apart after 4 SGD steps, while halving the global batch moves weights by up to 0.6.
    for key, value in weights.items():
        torch.testing.assert_close(value, same_batch['state_dict'][key], rtol=1e-3, atol=1e-4, msg=key)
    assert max((value - half_batch['state_dict'][key]).abs().max().item() for key, value in weights.items()) > 1e-2


@pytest.mark.parametrize('checkpoint, problem', [('nope/epoch_9.pth', 'no such file'),
                                                 ('truncated.pth', 'not a complete PyTorch checkpoint')])
def test_testing_a_checkpoint_that_cannot_be_loaded_is_one_line_and_writes_nothing(checkpoint, problem, tmp_path,
                                                                                   monkeypatch, capfd):
    (tmp_path / 'truncated.pth').write_bytes(b'PK\x03\x04 half a checkpoint')
    work_dir = tmp_path / 'work'
    monkeypatch.chdir(tmp_path)
    capfd.readouterr()
    status = run_command_line('test.py', osp.join(REPO, 'configs', 'faster_rcnn_se_r50_coco.py'), checkpoint,
                              '--work-dir', str(work_dir))
    stderr = capfd.readouterr().err
    assert status == 1
    assert stderr.strip().splitlines()[-1].startswith(f'error: checkpoint {checkpoint}: {problem}')
    assert 'Traceback' not in stderr and not work_dir.exists()


PLACES = osp.join(REPO, 'configs', 'places365', 'se-resnet50_8xb32-scratch_places365.py')
IMAGENET = osp.join(REPO, 'configs', 'imagenet', 'se-resnet50_8xb128-paper_in1k.py')


@pytest.fixture(scope='module')
def places_root(module_tmp_path):
    return make_places365(str(module_tmp_path / 'places'), num_classes=2, train_per_class=2,
                          val_per_class=1, image_size=32)


@pytest.mark.parametrize('mistake', ['misspelt backbone argument', 'misspelt option key', 'no such data root',
                                     'misspelt ImageNet data_root', 'misspelt top-level key',
                                     'no pretrained weights', 'malformed list line', 'ann-file without data-root',
                                     'unknown plugin position', 'misspelt package _base_', 'misspelt path _base_',
                                     'syntax error', 'fewer classes in the head than class folders',
                                     'misspelt NMS type'])
def test_a_users_mistake_is_one_line_naming_what_to_fix_and_leaves_nothing(mistake, coco_root, places_root, tmp_path,
                                                                           monkeypatch, capfd, hub_caches):
    """tools/train.py's command line, run in this process (the tool as a process: the test above)."""
    project = tmp_path / 'my_project'  # the user's folder, outside the repository
    project.mkdir()
    monkeypatch.chdir(project)
    config, args, expected = PLACES, [], None
    if mistake == 'misspelt backbone argument':
        args = ['--data-root', places_root, '--cfg-options', 'model.backbone.se_ratoi=4']
        expected = "error: model.backbone: SEResNet has no argument 'se_ratoi'; did you mean 'se_ratio'?"
    elif mistake == 'misspelt option key':
        args = ['--data-root', places_root, '--cfg-options', 'train_cfg.max_epoch=1']
        expected = "error: train_cfg: EpochBasedTrainLoop has no argument 'max_epoch'; did you mean 'max_epochs'?"
    elif mistake == 'no such data root':
        args, expected = ['--data-root', '/data/places'], 'error: --data-root /data/places is not a directory'
    elif mistake == 'misspelt ImageNet data_root':
        config, args = IMAGENET, ['--cfg-options', 'train_dataloader.dataset.data_root=/data/imagnet']
        expected = ('error: train_dataloader.dataset.data_root /data/imagnet is not a directory '
                    '(set it with --data-root)')
    elif mistake == 'misspelt top-level key':
        config = project / 'mine.py'
        config.write_text(f"_base_ = {PLACES!r}\ndefault_hook = dict(logger=dict(interval=2))\n")
        args = ['--data-root', places_root, '--strict-config']
        expected = (f"error: {config}: top-level key 'default_hook' is read by nothing; "
                    "did you mean 'default_hooks'?")
    elif mistake == 'no pretrained weights':  # the COCO configs start from timm's SE weights, not cached here
        config, args = osp.join(REPO, 'configs', 'faster_rcnn_se_r50_coco.py'), ['--data-root', coco_root]
        cache = osp.join(hub_caches.hugging_face_cache, 'models--timm--seresnet50.a1_in1k')
        expected = ('error: model.backbone.init_cfg.checkpoint timm://seresnet50.a1_in1k: model.safetensors of the '
                    'Hugging Face repository timm/seresnet50.a1_in1k is not in the cache and could not be fetched '
                    f'(HF_HUB_OFFLINE is set): LocalEntryNotFoundError; put it at {cache}/snapshots/<revision>/'
                    f'model.safetensors with <revision> in {cache}/refs/main, or fetch it once where the hub is '
                    'reachable')
    elif mistake == 'malformed list line':  # found when the Runner builds the dataset: its files go again
        broken = shutil.copytree(places_root, project / 'places')
        with open(broken / 'places365_val.txt', 'a') as f:
            f.write('Places365_val_00000009.jpg 1 extra\n')
        args = ['--data-root', str(broken)]
        expected = (f'error: {broken}/places365_val.txt:3: expected "<image path> <label>", '
                    "got 'Places365_val_00000009.jpg 1 extra'")
    elif mistake == 'misspelt NMS type':  # met by mmcv at the first evaluation, after an epoch of training
        config = osp.join(REPO, 'configs', 'faster_rcnn_se_r50_coco.py')
        args = ['--data-root', coco_root, '--cfg-options', 'model.backbone.init_cfg=None',
                'model.test_cfg.rcnn.nms.type=nsm']
        expected = "error: model.test_cfg.rcnn.nms.type: 'nsm' is not one of mmcv's NMS ops; did you mean 'nms'?"
    elif mistake == 'unknown plugin position':
        config = project / 'my_plugin_detector.py'
        config.write_text(f"_base_ = {osp.join(REPO, 'configs', 'se_plugin', 'faster-rcnn_r50-se_fpn_1x_coco.py')!r}\n"
                          "model = dict(backbone=dict(plugins=[dict(cfg=dict(type='se_plugins.SEPlugin'), "
                          "position='after_conv4')]))\n")
        args = ['--data-root', coco_root]
        expected = ("error: model.backbone.plugins[0].position: 'after_conv4' is not a plugin position; "
                    "choose one of ['after_conv1', 'after_conv2', 'after_conv3']")
    elif mistake == 'misspelt package _base_':
        config = project / 'mine.py'
        config.write_text("_base_ = 'se_plugins::imagenet/se-resnet50_8xb32_inlk.py'\n")
        missing = osp.join(osp.dirname(se_plugins.__file__), '.mim', 'configs', 'imagenet',
                           'se-resnet50_8xb32_inlk.py')
        expected = (f"error: {config}: _base_ 'se_plugins::imagenet/se-resnet50_8xb32_inlk.py' does not exist "
                    f"({missing}); did you mean 'se_plugins::imagenet/se-resnet50_8xb32_in1k.py'?")
    elif mistake == 'misspelt path _base_':
        config = project / 'mine.py'
        misspelt = osp.join(REPO, 'configs', 'places365', 'se-resnet50_8xb32-scratch_place365.py')
        config.write_text(f"_base_ = {misspelt!r}\n")
        expected = (f"error: {config}: _base_ '{REPO}/configs/places365/se-resnet50_8xb32-scratch_place365.py' does "
                    f"not exist ({REPO}/configs/places365/se-resnet50_8xb32-scratch_place365.py); did you mean "
                    f"'{REPO}/configs/places365/se-resnet50_8xb32-scratch_places365.py'?")
    elif mistake == 'syntax error':
        config = project / 'mine.py'
        config.write_text(f"_base_ = {PLACES!r}\nmodel = dict(backbone=dict(depth=50)\n"
                          "train_cfg = dict(max_epochs=1)\n")
        expected = f"error: {config}:2: syntax error in the config: '(' was never closed"
    elif mistake == 'fewer classes in the head than class folders':  # mmpretrain: an IndexError in iteration 1
        images = project / 'images'
        for name in ('cat', 'dog', 'fox'):
            (images / name).mkdir(parents=True)
            for path in glob.glob(osp.join(places_root, 'data_256', '**', '*.jpg'), recursive=True)[:2]:
                shutil.copy(path, images / name)
        config = project / 'mine.py'
        config.write_text(f"_base_ = {PLACES!r}\ntrain_dataloader = dict(dataset=dict(_delete_=True, "
                          f"type='CustomDataset', data_root={str(images)!r}, pipeline=[]))\n"
                          "model = dict(head=dict(num_classes=2), data_preprocessor=dict(num_classes=2))\n")
        args = ['--no-validate']
        expected = (f'error: the data has 3 classes (the class folders of {images}/ (train_dataloader.dataset)) '
                    'but the model says model.head.num_classes=2, model.data_preprocessor.num_classes=2; set '
                    'model.head.num_classes=3 model.data_preprocessor.num_classes=3 (e.g. --cfg-options '
                    'model.head.num_classes=3 model.data_preprocessor.num_classes=3)')
    else:
        args, expected = ['--ann-file', 'val.json'], 'error: --ann-file goes with --data-root'
    before = sorted(p.name for p in project.iterdir())
    capfd.readouterr()
    status, stderr = run_command_line('train.py', str(config), *args), capfd.readouterr().err
    assert status == 1, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == expected
    assert 'Traceback' not in stderr
    assert sorted(p.name for p in project.iterdir()) == before  # no work_dirs/, nothing else


def test_two_nodes_as_two_launches_train_as_two_processes_on_one_node(places, uninterrupted, tmp_path):
    """tools/dist_train.sh with NNODES=2, once for each node (both on this machine): the same ranks, the same
    weights as one node with two processes."""
    work_dir = tmp_path / 'work'
    command, env = torchrun_command(train_command(places, work_dir), processes=1)
    nodes = [subprocess.Popen(command, env=dict(env, NNODES='2', NODE_RANK=str(rank), MASTER_ADDR='127.0.0.1'),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for rank in (0, 1)]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], '\n'.join(output[-2000:] for output in outputs)
    assert 'CPU processes (no GPU): 2' in outputs[0]
    assert_same_weights(uninterrupted['two_processes'], work_dir / 'epoch_3.pth')
