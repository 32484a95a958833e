import os.path as osp
import runpy
import sys

import pytest
import torch

from helpers import REPO


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


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
