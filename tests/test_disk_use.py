"""The suite cleans up after itself: a passing test's tmp_path and a passing module's module_tmp_path are gone
when they end, a failing one's are kept (pytest.ini and conftest.py, run on a small suite of their own); what the
session's workers share is made once and removed when the session has passed."""
import os
import os.path as osp
import subprocess
import sys

from helpers import REPO

INNER_CONFTEST = f"""
import importlib.util
import sys

sys.path.insert(0, {osp.join(REPO, 'tests')!r})
spec = importlib.util.spec_from_file_location('suite_conftest', {osp.join(REPO, 'tests', 'conftest.py')!r})
suite_conftest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(suite_conftest)
module_tmp_path = suite_conftest.module_tmp_path
made_once = suite_conftest.made_once
pytest_sessionfinish = suite_conftest.pytest_sessionfinish
"""
PASSING_MODULE = """
import pytest


@pytest.fixture(scope='module')
def shared(module_tmp_path):
    (module_tmp_path / 'data.bin').write_bytes(b'x' * 1000)
    return module_tmp_path


def test_writes_a_checkpoint(tmp_path, shared):
    (tmp_path / 'epoch_1.pth').write_bytes(b'x' * 1000)
    print('TMP', tmp_path, 'MODULE', shared)
"""
FAILING_MODULE = PASSING_MODULE.replace("print('TMP', tmp_path, 'MODULE', shared)",
                                        "print('TMP', tmp_path, 'MODULE', shared)\n    assert False")


def test_a_passing_tests_folders_are_removed_and_a_failing_tests_kept(tmp_path):
    inner = tmp_path / 'inner'
    inner.mkdir()
    (inner / 'conftest.py').write_text(INNER_CONFTEST)
    (inner / 'test_passing.py').write_text(PASSING_MODULE)
    (inner / 'test_failing.py').write_text(FAILING_MODULE)
    result = subprocess.run([sys.executable, '-m', 'pytest', '-c', osp.join(REPO, 'pytest.ini'), '--rootdir',
                             str(inner), '-p', 'no:cacheprovider', '-s', '--basetemp', str(tmp_path / 'base'),
                             str(inner)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and '1 failed, 1 passed' in result.stdout, result.stdout + result.stderr
    folders = {}
    for line in result.stdout.splitlines():
        if 'TMP ' in line:
            words = line[line.index('TMP '):].split()
            folders['failing' if 'test_failing' in words[3] else 'passing'] = (words[1], words[3])
    assert set(folders) == {'passing', 'failing'}, result.stdout
    for path in folders['passing']:
        assert not osp.exists(path), path
    for path in folders['failing']:
        assert osp.exists(path), path


# Two modules (two xdist workers under --dist loadscope) ask for the same session-wide data at the same moment.
SHARING_MODULE = """
import os
import time

import pytest

from conftest import made_once


def make(folder):
    with open({counter!r}, 'a') as f:
        f.write(f'made by {{os.environ.get("PYTEST_XDIST_WORKER")}}\\n')
    time.sleep(2)  # the other worker asks meanwhile
    (folder / 'data.bin').write_bytes(b'x' * 1000)
    return str(folder)


@pytest.fixture(scope='session')
def data(request):
    return made_once(request, 'data', make)


def test_reads_the_shared_data(data):
    with open({readers!r}, 'a') as f:
        f.write(f'{{os.environ.get("PYTEST_XDIST_WORKER")}} {{data}}\\n')
    assert os.path.getsize(os.path.join(data, 'data.bin')) == 1000
"""


def run_sharing_suite(tmp_path):
    """Run the two modules on 2 workers; return the inner pytest's result, the lines ``make`` wrote (one each
    time it made the data), which worker read which folder, and the shared session folder."""
    inner = tmp_path / 'inner'
    inner.mkdir()
    (inner / 'conftest.py').write_text(INNER_CONFTEST)
    counter = tmp_path / 'made.txt'
    for name in ('test_first.py', 'test_second.py'):
        (inner / name).write_text(SHARING_MODULE.format(counter=str(counter), readers=str(tmp_path / 'read.txt')))
    env = {key: value for key, value in os.environ.items() if not key.startswith('PYTEST_XDIST')}
    result = subprocess.run([sys.executable, '-m', 'pytest', '-c', osp.join(REPO, 'pytest.ini'), '--rootdir',
                             str(inner), '-p', 'no:cacheprovider', '-n', '2', '--dist', 'loadscope', '--basetemp',
                             str(tmp_path / 'base'), str(inner)],
                            capture_output=True, text=True, timeout=300, env=env)
    readers = dict(line.split() for line in (tmp_path / 'read.txt').read_text().splitlines())
    return result, counter.read_text().splitlines(), readers, tmp_path / 'base' / 'session'


def test_what_workers_share_is_made_once_and_removed_when_the_session_passed(tmp_path):
    result, made, readers, shared = run_sharing_suite(tmp_path)
    assert result.returncode == 0 and '2 passed' in result.stdout, result.stdout + result.stderr
    assert len(made) == 1, made
    # both workers read the one folder, which is gone once the session passed
    assert sorted(readers) == ['gw0', 'gw1'] and set(readers.values()) == {str(shared / 'data')}, readers
    assert not shared.exists()
