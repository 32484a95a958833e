"""The suite cleans up after itself: a passing test's tmp_path and a passing module's module_tmp_path are gone
when they end, a failing one's are kept (pytest.ini and conftest.py, run on a small suite of their own)."""
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
