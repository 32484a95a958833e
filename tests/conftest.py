import fcntl
import glob
import multiprocessing.forkserver
import os
import os.path as osp
import pickle
import re
import runpy
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Callable, Iterator, List, Tuple, TypeVar

import pytest
import torch

from se_plugins.datasets import make_places365
from se_plugins.engine.workers import end_quiet_workers

import slurm_jobs
from helpers import ITERATION_CONFIG, PLACES_CONFIG, REPO, TRAIN_ENV, HubCaches, build, torchrun_command, train_command

T = TypeVar('T')
SLURM_MODULE = 'tests/test_tools/test_slurm.py'

# Under pytest-xdist (`make test`: 2 workers, --dist loadscope --no-loadscope-reorder), a module's tests run on
# one worker, and so do a class's: a module-wide fixture (a Slurm cluster, generated data, a run its tests share)
# is made once, and a session-wide one once for all workers (made_once). The long end-to-end runs (marked
# `first`) start first, then the other modules with end-to-end runs, then the rest: the scheduler hands out work
# in this order (not reordered by size), and a long run started last would leave the other worker idle. The
# Slurm jobs (3-4 minutes, mostly waiting for Slurm's time limit and for paced iterations) run in the background
# from the start (the controller starts them, tests/slurm_jobs.py), and their module's tests, which read how they
# ended, run last (marked `last`): a worker waiting for them would idle most of that time.
#
# Each worker computes on its share of the cores, in its own torch and in the processes its tests start
# (OMP_NUM_THREADS); in one process, torch's default. On 2 cores, 2 workers with torch's default threads ran 4
# OpenMP threads that waited on each other: 26.5 min against 27 in one process; with one thread each, 17.2 min.
if os.environ.get('PYTEST_XDIST_WORKER_COUNT'):
    THREADS = max(1, (os.cpu_count() or 1) // int(os.environ['PYTEST_XDIST_WORKER_COUNT']))
    os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = str(THREADS)
    torch.set_num_threads(THREADS)


def pytest_collection_modifyitems(config, items) -> None:
    slow_modules = {item.module.__name__ for item in items if item.get_closest_marker('slow')}

    def marked(item, name: str) -> bool:
        marks = getattr(item.module, 'pytestmark', [])
        return any(mark.name == name for mark in (marks if isinstance(marks, list) else [marks]))

    def order(item) -> tuple:
        first = item.get_closest_marker('first') is not None
        return marked(item, 'last'), not first, not marked(item, 'first'), item.module.__name__ not in slow_modules
    items.sort(key=order)


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _worker_server_ends_with_its_test():
    """A tool run in this process (``run_command_line``) starts the fork server of its DataLoader workers
    (``start_worker_server``), which every later loader of the process would use: it ends with its test."""
    yield
    server = multiprocessing.forkserver._forkserver
    if server._forkserver_pid is not None:
        end_quiet_workers()
        server._stop()


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


def shared_folder(config: pytest.Config) -> Path:
    """The folder the whole session shares: in pytest's base temporary folder, which holds each xdist worker's
    own (``<base>/popen-gw0``, ...)."""
    base = config._tmp_path_factory.getbasetemp()
    return (base.parent if hasattr(config, 'workerinput') else base) / 'session'


@pytest.fixture(scope='session')
def session_folder(request) -> Path:
    """The folder the whole session shares (:func:`shared_folder`)."""
    return shared_folder(request.config)


def made_once(request: pytest.FixtureRequest, name: str, make: Callable[[Path], T]) -> T:
    """``make(folder)``'s result, made once in the session: by the first xdist worker that asks for it, in a
    folder of the shared session folder; the other workers wait for it (a lock file) and get the same result
    (kept beside it). A ``make`` that failed is tried again by the next test that asks."""
    return _made_once_in(shared_folder(request.config), name, make)


def _made_once_in(shared: Path, name: str, make: Callable[[Path], T]) -> T:
    shared.mkdir(exist_ok=True)
    made = shared / f'{name}.pickle'
    with open(shared / f'{name}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not made.exists():
            folder = shared / name
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            made.write_bytes(pickle.dumps(make(folder)))
        return pickle.loads(made.read_bytes())


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids: List[str]) -> None:
    """In the xdist controller, once a worker has collected the Slurm module: its jobs start in the background
    (tests/slurm_jobs.py), for the module's tests, last in the session, to read."""
    config = node.config
    if any(test.startswith(SLURM_MODULE) for test in ids) and not hasattr(config, '_slurm_jobs'):
        shared = shared_folder(config)
        config._slurm_jobs = slurm_jobs.start_in_background(shared, lambda: _places(shared))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The shared session folder is removed when the session ends (under xdist: in the controller, once every
    worker has ended) unless a test failed; a Slurm cluster still running in the background (a session that
    ended early) is stopped."""
    if hasattr(session.config, 'workerinput'):
        return
    shared = shared_folder(session.config)
    background = shared / slurm_jobs.BACKGROUND
    if (background / 'started').exists() and not (background / 'outcome.pickle').exists():
        slurm_jobs.stop_cluster(str(background / 'slurm'))  # the jobs' own run stops it when they end
    if exitstatus == 0:
        shutil.rmtree(shared, ignore_errors=True)


@pytest.fixture(scope='session')
def places(request) -> str:
    """A generated Places365: 2 classes, 8 training and 4 validation images each, 64x64."""
    return _places(shared_folder(request.config))


def _places(shared: Path) -> str:
    return _made_once_in(shared, 'places', lambda folder: make_places365(
        str(folder), num_classes=2, train_per_class=8, val_per_class=4, image_size=64))


def _uninterrupted_runs(places: str, root: Path) -> dict:
    iteration_config = root / 'iteration_based.py'
    iteration_config.write_text(ITERATION_CONFIG.format(config=PLACES_CONFIG))
    runs = [(train_command(places, root / 'epochs'), TRAIN_ENV),
            (train_command(places, root / 'iterations', config=str(iteration_config), epochs=None), TRAIN_ENV),
            torchrun_command(train_command(places, root / 'two_processes'))]
    for command, env in runs:
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    return dict(epochs=root / 'epochs' / 'epoch_3.pth', iterations=root / 'iterations' / 'iter_10.pth',
                iteration_config=iteration_config, two_processes=root / 'two_processes' / 'epoch_3.pth')


@pytest.fixture(scope='session')
def uninterrupted(places, request) -> dict:
    """Final checkpoints of tools/train.py runs nobody stopped (helpers.train_command): 3 epochs of one
    process; 10 iterations of an iteration-based loop; 3 epochs of 2 gloo processes under torchrun."""
    return made_once(request, 'uninterrupted', lambda folder: _uninterrupted_runs(places, folder))


@pytest.fixture
def hub_caches(tmp_path, monkeypatch) -> HubCaches:
    """Empty caches of the Hugging Face hub and torch.hub for this test and the processes it starts (offline), in
    which it places files as the hubs would have cached them."""
    caches = HubCaches(tmp_path / 'hubs')
    for name, value in caches.environment().items():
        monkeypatch.setenv(name, value)
    from huggingface_hub import constants  # it read the variables when first imported
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', caches.hugging_face_cache)
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', True)
    return caches


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


@pytest.fixture(scope='session')
def distributions(request) -> Tuple[str, str]:
    """The sdist of a clean copy of the repository, and the wheel pip builds from that sdist."""
    return made_once(request, 'dist', _build_distributions)


def _build_distributions(out: Path) -> Tuple[str, str]:
    clean = out / 'clone'
    build(['git', 'clone', '-q', '--no-hardlinks', REPO, str(clean)], cwd=str(out))
    for changed in subprocess.run(['git', 'ls-files', '-m', '-o', '--exclude-standard'], cwd=REPO,
                                  capture_output=True, text=True, check=True).stdout.split():
        # the working tree as it is, so that the test checks what would be committed
        target = clean / changed
        target.parent.mkdir(parents=True, exist_ok=True)
        if osp.islink(osp.join(REPO, changed)):
            target.unlink(missing_ok=True)
            target.symlink_to(os.readlink(osp.join(REPO, changed)))
        else:
            target.write_bytes(open(osp.join(REPO, changed), 'rb').read())
    build([sys.executable, 'setup.py', '-q', 'sdist', '-d', str(out)], cwd=str(clean))
    sdist, = glob.glob(str(out / '*.tar.gz'))
    build([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', '-w', str(out), sdist],
          cwd=str(out))
    wheel, = glob.glob(str(out / '*.whl'))
    return sdist, wheel


@pytest.fixture(scope='session')
def installed(distributions, request) -> Tuple[str, str]:
    """A fresh venv with only the wheel installed (non-editable); the stack (torch, OpenMMLab, mim) is
    this environment's, seen through a .pth file that leaves out this repository's editable install. Returns
    its python and a project folder outside the repository."""
    return made_once(request, 'user', lambda root: _install_the_wheel(distributions[1], root))


def _install_the_wheel(wheel: str, root: Path) -> Tuple[str, str]:
    venv = root / 'venv'
    build([sys.executable, '-m', 'venv', str(venv)], cwd=str(root))
    python = str(venv / 'bin' / 'python')
    stack = root / 'stack'
    stack.mkdir()
    site_packages = sysconfig.get_paths()['purelib']
    for entry in os.listdir(site_packages):
        if not re.match(r'(__editable__.*)?se[-_]plugins', entry) and not entry.endswith('.pth'):
            (stack / entry).symlink_to(osp.join(site_packages, entry))
    venv_site = build([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], cwd=str(root))
    with open(osp.join(venv_site.strip(), 'se_plugins_test_stack.pth'), 'w') as f:
        f.write(f'{stack}\n')
    build([python, '-m', 'pip', 'install', '-q', '--no-deps', '--disable-pip-version-check', wheel],
          cwd=str(root))
    mim = venv / 'bin' / 'mim'  # the stack's console script, as pip would write it into the venv
    mim.write_text(f'#!{python}\nimport sys\nfrom mim.cli import cli\nsys.exit(cli())\n')
    mim.chmod(0o755)
    project = root / 'my_project'  # where the user works: outside the repository
    project.mkdir()
    package = build([python, '-c', 'import se_plugins; print(se_plugins.__file__)'], cwd=str(project)).split()[-1]
    assert package.startswith(venv_site.strip()), package  # the wheel's copy, not the repository
    return python, str(project)
