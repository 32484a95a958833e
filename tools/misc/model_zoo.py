"""Write the model zoo: configs/*/metafile.yml, model-index.yml and README's model-zoo tables.

    python tools/misc/model_zoo.py           # after adding or changing a config
    python tools/misc/model_zoo.py --check   # exit 1 if a file is out of date (the tests run this)

Every config's model is built with random weights and counted at 224x224 (tools/analysis_tools/get_flops.py).
"""
import argparse
import os.path as osp
from typing import Dict, List

import se_plugins  # noqa: F401
from se_plugins.analysis.model_zoo import TASKS, config_paths, measure_config, metafile, model_index, readme_tables
from se_plugins.utils import InputError, atomic_write, run_cli

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BEGIN, END = '<!-- model-zoo:begin -->\n', '<!-- model-zoo:end -->\n'


def expected_files(repo: str) -> Dict[str, str]:
    """Each generated file's path and content."""
    tasks_entries = {task: [measure_config(repo, config) for config in config_paths(osp.join(repo, 'configs'), task)]
                     for task in TASKS}
    files = {osp.join(repo, 'configs', task.folder, 'metafile.yml'): metafile(task, entries)
             for task, entries in tasks_entries.items()}
    files[osp.join(repo, 'model-index.yml')] = model_index()
    readme = osp.join(repo, 'README.md')
    with open(readme) as f:
        text = f.read()
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise InputError(f'{readme}: needs one {BEGIN.strip()} and one {END.strip()} line around the tables')
    head, rest = text.split(BEGIN)
    files[readme] = head + BEGIN + readme_tables(tasks_entries) + END + rest.split(END)[1]
    return files


def stale_files(repo: str, write: bool) -> List[str]:
    """The generated files of ``repo`` that are out of date, rewritten if ``write``."""
    stale = []
    for path, content in expected_files(repo).items():
        current = open(path).read() if osp.isfile(path) else None
        if current != content:
            stale.append(osp.relpath(path, repo))
            if write:
                atomic_write(path, lambda f: f.write(content.encode()))
    return stale


def main() -> List[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='write nothing; exit 1 if a file is out of date')
    args = parser.parse_args()
    stale = stale_files(REPO, write=not args.check)
    if args.check and stale:
        raise InputError(f'out of date: {", ".join(stale)}; run python tools/misc/model_zoo.py')
    print('updated: ' + ', '.join(stale) if stale else 'the model zoo is up to date')
    return stale


if __name__ == '__main__':
    run_cli(main)
