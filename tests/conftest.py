import os.path as osp
import runpy
import shutil
import sys
from pathlib import Path
from typing import Iterator

import pytest
import torch

from helpers import REPO


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
