import os.path as osp
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import torch

from se_plugins.datasets import make_places365

from helpers import ITERATION_CONFIG, PLACES_CONFIG, REPO, TRAIN_ENV, torchrun_command, train_command


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope='module')
def module_tmp_path(request, tmp_path_factory) -> Iterator[Path]:
    """A folder that one test module's tests share (generated data, a run they all read), removed when the
    module is done unless one of its tests failed: ``tmp_path``'s rule in pytest.ini
    (``tmp_path_retention_policy = failed``), so that the suite's checkpoints never pile up on the disk."""
    failures_before = request.session.testsfailed
    path = tmp_path_factory.mktemp(request.module.__name__.rsplit('.', 1)[-1])
    yield path
    if request.session.testsfailed == failures_before:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope='session')
def session_tmp_path(request, tmp_path_factory) -> Iterator[Path]:
    """A folder the whole session shares (runs that several modules compare against), removed at the end
    unless a test failed."""
    path = tmp_path_factory.mktemp('session')
    yield path
    if request.session.testsfailed == 0:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope='session')
def places(session_tmp_path) -> str:
    """A generated Places365: 2 classes, 8 training and 4 validation images each, 64x64."""
    return make_places365(str(session_tmp_path / 'places'), num_classes=2, train_per_class=8, val_per_class=4,
                          image_size=64)


@pytest.fixture(scope='session')
def uninterrupted(places, session_tmp_path) -> dict:
    """Final checkpoints of tools/train.py runs nobody stopped (helpers.train_command): 3 epochs of one
    process; 10 iterations of an iteration-based loop; 3 epochs of 2 gloo processes under torchrun."""
    root = session_tmp_path / 'uninterrupted'
    root.mkdir()
    iteration_config = root / 'iteration_based.py'
    iteration_config.write_text(ITERATION_CONFIG.format(config=PLACES_CONFIG))
    runs = [(train_command(places, root / 'epochs'), TRAIN_ENV),
            (train_command(places, root / 'iterations', config=str(iteration_config), epochs=None), TRAIN_ENV),
            torchrun_command(train_command(places, root / 'two_processes'), port=29541)]
    for command, env in runs:
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    return dict(epochs=root / 'epochs' / 'epoch_3.pth', iterations=root / 'iterations' / 'iter_10.pth',
                iteration_config=iteration_config, two_processes=root / 'two_processes' / 'epoch_3.pth')


def _load_tool(tool: str) -> dict:
    return runpy.run_path(osp.join(REPO, 'tools', tool))


@pytest.fixture
def tool_globals():
    """``tool_globals('analysis_tools/plot_curves.py')``: a tool's functions, loaded without running it."""
    return _load_tool


@pytest.fixture
def run_tool():
    """``run_tool('train.py', *args)``: run ``tools/train.py`` in this process as its command line
    would (its argument parsing included) and return what its ``main()`` returns."""

    def run(tool: str, *args: str):
        main = _load_tool(tool)['main']
        argv, sys.argv = sys.argv, [osp.join(REPO, 'tools', tool), *args]
        try:
            return main()
        finally:
            sys.argv = argv
    return run
