"""What several test modules share: the repository's paths, a toy model and dataset for mmengine runs, and
training runs of the tools on generated data.

``tests/`` is on ``sys.path`` (pytest puts a conftest's folder there), so tests import this as ``helpers``.
"""
import atexit
import gc
import glob
import os
import os.path as osp
import re
import runpy
import shutil
import socket
import subprocess
import sys
import tempfile
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from torch.utils.data import Dataset

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# No test reads the user's caches of public weights or the network: the Hugging Face hub's and torch.hub's caches
# are empty folders of the session (set before anything imports huggingface_hub, which reads them once; the tests
# import this module first), and the hub is offline. A test that needs a file places it where the hub would have
# cached it (conftest's hub_caches).
_EMPTY_HUBS = tempfile.mkdtemp(prefix='se_plugins_tests_hubs_')
atexit.register(shutil.rmtree, _EMPTY_HUBS, True)
os.environ.update(HF_HOME=osp.join(_EMPTY_HUBS, 'huggingface'), TORCH_HOME=osp.join(_EMPTY_HUBS, 'torch'),
                  HF_HUB_OFFLINE='1')
os.environ.pop('HF_HUB_CACHE', None)
# Every config a user runs (the _base_ fragments are not), relative to the repository.
CONFIGS = sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)
# The paper's networks beyond the ResNets, by registered name: (build arguments, number of SE blocks, output
# channels per stage, input size for the tests).
NETWORKS = {
    'SEVGG': (dict(depth=16), 13, (64, 128, 256, 512, 512), 64),
    'SEBNInception': (dict(), 10, (320, 608, 1024), 64),
    'SEInceptionResNetV2': (dict(), 40, (320, 1088, 1536), 96),
    'SEMobileNetV1': (dict(), 13, (64, 128, 256, 512, 1024), 64),
    'SEShuffleNetV1': (dict(groups=3), 16, (240, 480, 960), 64),
}


class ToyModel(BaseModel):
    """A linear layer on 2-vectors. In ``loss`` mode: the squared error to ``labels`` where the batch has
    them, else two terms, ``loss_cls`` and ``loss_reg``; in ``predict`` mode: one score per input.

    Args:
        nan_at: The forward call whose ``loss_cls`` is NaN (``None``: none is).
    """

    def __init__(self, nan_at: Optional[int] = None) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.nan_at = nan_at
        self.calls = 0

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        if mode == 'predict':
            return [dict(score=float(v)) for v in out.flatten()]
        if mode != 'loss':
            return out
        if labels is not None:
            return dict(loss=(out - torch.stack(labels)).pow(2).mean())
        self.calls += 1
        scale = float('nan') if self.calls == self.nan_at else 1.0
        return dict(loss_cls=out.pow(2).mean() * scale, loss_reg=out.abs().mean())


class ToyDataset(Dataset):
    """``length`` items ``dict(inputs=(i, i))``, with ``labels=(1,)`` if ``labels``."""

    def __init__(self, length: int = 8, labels: bool = False) -> None:
        self.length = length
        self.labels = labels

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        item = dict(inputs=torch.full((2, ), float(index)))
        if self.labels:
            item['labels'] = torch.ones(1)
        return item


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def randomise_bn(model: nn.Module) -> nn.Module:
    """Give every BN of ``model`` random running statistics and affine parameters (as a trained model has
    them), so that folding them into the convs, or an SE in the wrong place, shows in the outputs; return
    ``model``."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
    return model


# ---- the peers' SE networks with random weights ----------------------------------------------------------------
def randomize(model: nn.Module, size: int) -> nn.Module:
    """Random BN affine parameters and SE biases, then BN statistics from a random batch.

    Peers zero-initialise the last BN of each residual branch, which would hide a wrong SE or
    branch mapping; calibrated statistics keep a deep random network's activations finite.
    """
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.weight.data = torch.rand(module.weight.shape, generator=generator) + 0.5
            module.bias.data = torch.rand(module.bias.shape, generator=generator) * 0.2 - 0.1
            module.momentum = 1.0
        elif isinstance(module, (nn.Conv2d, nn.Linear)) and module.bias is not None:
            module.bias.data = torch.randn(module.bias.shape, generator=generator) * 0.1
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 3, size, size, generator=generator))
    return model.eval()


def build_peer(source: str, arch: str) -> nn.Module:
    """A peer's classifier ``arch`` with random weights: timm's, pretrainedmodels', or mmpretrain's (SE-ResNet and
    SE-ResNeXt, on our classifier)."""
    import pretrainedmodels
    import timm

    from se_plugins.building import build_classifier
    if source == 'timm':
        return timm.create_model(arch, pretrained=False)
    if source == 'pretrainedmodels':
        return pretrainedmodels.__dict__[arch](num_classes=1000, pretrained=None)
    backbone = dict(type='SEResNet', depth=int(arch[8:])) if arch.startswith('seresnet') else dict(
        type='SEResNeXt', depth=int(arch[9:arch.index('_')]), groups=int(arch.split('_')[1][:2]),
        width_per_group=4)
    return build_classifier(backbone, 1000, 2048)


# A command prefix that runs a command on a machine whose network is unreachable: a network namespace of its own,
# with only the loopback interface (up) in it.
OFFLINE = ['unshare', '--net', 'sh', '-c', 'ip link set lo up && exec "$@"', 'offline']


class HubCaches:
    """The Hugging Face hub's and torch.hub's caches in ``root``, and placing files in them in the layouts the hubs
    write: ``<HF_HOME>/hub/models--<org>--<name>/snapshots/<revision>/<file>`` with ``refs/main`` naming the
    revision, and ``<TORCH_HOME>/hub/checkpoints/<file name of the URL>``."""

    def __init__(self, root) -> None:
        self.hf_home, self.torch_home = str(root / 'huggingface'), str(root / 'torch')
        self.hugging_face_cache = osp.join(self.hf_home, 'hub')

    def environment(self) -> dict:
        """The variables that point the libraries at these caches, offline."""
        return dict(HF_HOME=self.hf_home, TORCH_HOME=self.torch_home, HF_HUB_OFFLINE='1')

    def place_on_hugging_face(self, repo: str, filename: str, state_dict: dict, revision: str = '0123abcd') -> str:
        """Cache ``state_dict`` as ``filename`` (safetensors) of the hub repository ``repo``."""
        from safetensors.torch import save_file
        folder = osp.join(self.hugging_face_cache, f'models--{repo.replace("/", "--")}')
        os.makedirs(osp.join(folder, 'snapshots', revision), exist_ok=True)
        os.makedirs(osp.join(folder, 'refs'), exist_ok=True)
        with open(osp.join(folder, 'refs', 'main'), 'w') as f:
            f.write(revision)
        path = osp.join(folder, 'snapshots', revision, filename)
        save_file({name: tensor.contiguous() for name, tensor in state_dict.items()}, path)
        return path

    def place_timm_weights(self, tag: str, state_dict: Optional[dict] = None) -> str:
        """Cache timm's weights ``tag`` (``seresnet50.a1_in1k``) where timm would fetch them to: ``state_dict``,
        or a model of that architecture with random weights."""
        from timm.models import get_pretrained_cfg
        if state_dict is None:
            state_dict = build_peer('timm', tag.split('.')[0]).state_dict()
        cfg = get_pretrained_cfg(tag)
        if cfg.hf_hub_id:
            return self.place_on_hugging_face(cfg.hf_hub_id, 'model.safetensors', state_dict)
        return self.place_in_torch_hub(cfg.url, state_dict)

    def place_in_torch_hub(self, url: str, state_dict: dict) -> str:
        """Cache ``state_dict`` as torch.hub caches the file of ``url`` (``torch.save``'s legacy format, as the
        2017 releases are)."""
        folder = osp.join(self.torch_home, 'hub', 'checkpoints')
        os.makedirs(folder, exist_ok=True)
        path = osp.join(folder, osp.basename(url))
        torch.save(state_dict, path, _use_new_zipfile_serialization=False)
        return path


# ---- training runs of the tools, on the generated Places365 ---------------------------------------------------
PLACES_CONFIG = osp.join(REPO, 'configs', 'places365', 'se-resnet50_8xb32-scratch_places365.py')
TRAIN_ENV = dict(os.environ, OMP_NUM_THREADS='1')
# tools/train.py with PLACES_CONFIG as an iteration-based loop (10 iterations, a checkpoint every 5)
ITERATION_CONFIG = """_base_ = {config!r}
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=10, val_interval=100)
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=5))
"""


def train_options(data_root: str, epochs: Optional[int] = 3, **overrides) -> List[str]:
    """``--cfg-options`` for PLACES_CONFIG on the generated Places365 (16 training images, batch 4 a process):
    a narrow SE-ResNet-18 at 56x56, deterministic, no validation, one log line per iteration, no DataLoader
    workers; ``overrides`` (``'key.name': value``) change or add settings. ``epochs=None``: the config's loop."""
    values = {'train_cfg.max_epochs': epochs, 'train_cfg.val_interval': 10, 'randomness.seed': 0,
              'randomness.deterministic': True, 'train_dataloader.dataset.pipeline.1.scale': 56,
              'val_dataloader.dataset.pipeline.1.scale': 64, 'val_dataloader.dataset.pipeline.2.crop_size': 56,
              'default_hooks.checkpoint.max_keep_ckpts': 2, 'default_hooks.logger.interval': 1,
              'model.backbone.depth': 18, 'model.backbone.stem_channels': 16, 'model.backbone.base_channels': 16,
              'model.head.in_channels': 128}
    if epochs is None:  # a child config with a loop of its own
        del values['train_cfg.max_epochs'], values['train_cfg.val_interval']
    for split in ('train', 'val', 'test'):
        values.update({f'{split}_dataloader.dataset.data_root': data_root, f'{split}_dataloader.batch_size': 4,
                       f'{split}_dataloader.num_workers': 0, f'{split}_dataloader.persistent_workers': False})
    values.update(overrides)
    return ['--cfg-options', *[f'{key}={value}'.replace(' ', '') for key, value in values.items()]]


def train_command(data_root: str, work_dir, *extra: str, config: str = PLACES_CONFIG, epochs: Optional[int] = 3,
                  **overrides) -> List[str]:
    """``tools/train.py`` with :func:`train_options`."""
    return [sys.executable, osp.join(REPO, 'tools', 'train.py'), str(config), '--work-dir', str(work_dir), *extra,
            *train_options(data_root, epochs, **overrides)]


def free_port() -> int:
    """A TCP port that nothing listens on now, picked by the OS: a run's rendezvous port, so that the runs of
    tests on several workers (pytest-xdist) never meet on one fixed port."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def torchrun_command(command: List[str], processes: int = 2) -> Tuple[List[str], dict]:
    """A :func:`train_command` as ``processes`` gloo processes under torchrun (tools/dist_train.sh) on a free
    port, and its environment."""
    env = dict(TRAIN_ENV, PATH=osp.dirname(sys.executable) + os.pathsep + os.environ['PATH'], PORT=str(free_port()))
    return ['bash', osp.join(REPO, 'tools', 'dist_train.sh'), command[2], str(processes), *command[3:]], env


def checkpoint_weights(path) -> dict:
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


def assert_same_weights(expected_path, actual_path) -> None:
    """The two checkpoints hold bit-identical weights."""
    expected, actual = checkpoint_weights(expected_path), checkpoint_weights(actual_path)
    assert expected.keys() == actual.keys()
    different = [key for key in expected if not torch.equal(expected[key], actual[key])]
    assert not different, f'{len(different)} tensors differ, e.g. {different[:3]}'


def logged_iterations(log_file) -> int:
    """Training iterations the run has logged so far (one log line per iteration)."""
    text = log_file.read_text() if log_file.exists() else ''
    return len(re.findall(r'(Epoch|Iter)\(train\) +\[', text))


def trained_iterations(log_file) -> int:
    """The run's position by its newest log line ``Epoch(train) [epoch][i/n]``: iterations trained since the
    start of training, over every launch (a resumed launch logs the epoch and index it goes on from)."""
    lines = re.findall(r'Epoch\(train\) +\[(\d+)\]\[ *(\d+)/(\d+)\]', log_file.read_text() if log_file.exists() else '')
    return max(((int(epoch) - 1) * int(total) + int(index) for epoch, index, total in lines), default=0)


def run_command_line(tool: str, *args: str) -> int:
    """Run ``tools/<tool>`` in this process as ``python tools/<tool> *args`` runs it (its ``__main__`` block:
    argument parsing, and ``run_cli``'s one ``error:`` line on stderr for bad input); return its exit
    status. For a tool's process itself (exit status, its whole stderr), tests start it with subprocess."""
    path = osp.join(REPO, 'tools', tool)
    argv, sys.argv = sys.argv, [path, *args]
    try:
        runpy.run_path(path, run_name='__main__')
    except SystemExit as exit_:
        return exit_.code
    finally:
        sys.argv = argv
        gc.unfreeze()  # run_cli froze what this process held: a tool's own process ends with the run, this one goes on
    return 0


# ---- the wheel, installed as a user installs it (conftest's ``installed``) -----------------------------------
def user_run(installed: Tuple[str, str], *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python *args`` in the environment that has only the wheel installed, from the user's project folder."""
    python, project = installed
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(OMP_NUM_THREADS='1', PATH=f'{osp.dirname(python)}{os.pathsep}{env["PATH"]}')
    return subprocess.run([python, *args], cwd=project, capture_output=True, text=True, env=env, timeout=timeout)


def build(command: list, cwd: str) -> str:
    """The standard output of ``command``, run in ``cwd``, which must succeed (a build or set-up step)."""
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def succeeds(result: subprocess.CompletedProcess) -> str:
    """The standard output of a command that must have succeeded."""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout
