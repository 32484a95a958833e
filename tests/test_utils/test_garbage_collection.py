"""The cyclic garbage collector in a tool's process: paused while se_plugins imports, resumed as it was, and
blind to what the imports made once the tool runs (se_plugins/__init__.py, se_plugins.utils.run_cli)."""
import gc
import subprocess
import sys
import weakref

import pytest

from se_plugins.utils import run_cli

from helpers import REPO


@pytest.mark.parametrize('enabled', [True, False])
def test_importing_se_plugins_leaves_the_collector_as_it_found_it(enabled):
    """...and makes no collection of the older generations while it imports (the youngest one's may run before
    its first line)."""
    script = (f'import gc\nif not {enabled}:\n    gc.disable()\nbefore = [s["collections"] for s in gc.get_stats()]\n'
              'import se_plugins\nafter = [s["collections"] for s in gc.get_stats()]\n'
              'print(gc.isenabled(), before[1:] == after[1:])')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.split()[-2:] == [str(enabled), 'True'], result.stderr[-2000:]


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_tool_runs_with_what_it_imported_frozen_and_no_garbage_kept():
    """run_cli collects what is garbage, then freezes the rest: the tool's collections no longer traverse it."""
    garbage = Cycle()
    collected = weakref.ref(garbage)
    del garbage  # a reference cycle: only the collector can free it
    seen = {}

    def main() -> None:
        seen['frozen'] = gc.get_freeze_count()
        seen['garbage kept'] = collected() is not None
    try:
        with pytest.raises(SystemExit) as exit_:
            run_cli(main)
    finally:
        gc.unfreeze()
    assert exit_.value.code == 0
    assert seen['frozen'] > 100_000  # torch's, OpenMMLab's, ours
    assert not seen['garbage kept']
