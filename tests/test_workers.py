"""Under pytest-xdist (`make test`), each worker computes on its share of the cores, and so do the processes its
tests start (conftest.py): more threads than cores made the workers' OpenMP threads wait on each other."""
import os
import subprocess
import sys

import torch


def test_a_worker_and_the_processes_it_starts_compute_on_its_share_of_the_cores():
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', 0))
    child = subprocess.run([sys.executable, '-c', 'import torch; print(torch.get_num_threads())'],
                           capture_output=True, text=True, check=True)
    if workers:
        share = max(1, os.cpu_count() // workers)
        assert torch.get_num_threads() == share and os.environ['OMP_NUM_THREADS'] == str(share)
        assert int(child.stdout) == share
    else:  # in one process: torch's default, for this process and the ones it starts
        assert int(child.stdout) == torch.get_num_threads()
