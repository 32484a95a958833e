# The two commands of README: `make demo` (set-up + the main job) and `make test` (set-up + lint + tests).
VENV ?= $(or $(SE_VENV),$(CURDIR)/.venv)
PY := $(VENV)/bin/python
export SE_VENV := $(VENV)

.PHONY: setup lint test demo

setup:
	bash tools/setup_env.sh

lint: setup
	$(PY) -m flake8
	$(PY) -m isort --check-only --diff .

# The suite in this process by default; TEST_WORKERS=2 runs it on 2 pytest-xdist workers (a module's or a class's
# tests on one, tests/conftest.py): measured slower on 2 cores (26.5 min against 27), and a Slurm signal race failed.
TEST_WORKERS ?= 0

test: setup lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)

demo: setup
	$(PY) tools/misc/demo.py
