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

# The suite on TEST_WORKERS pytest-xdist workers (0: in this process), a module's or a class's tests on one, each
# worker computing on its share of the cores (tests/conftest.py): 13-17 min on 2 cores (bound by the CPU: 3 workers
# are no faster), twice that in one process
# (docs/development.md).
TEST_WORKERS ?= 2

test: setup lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)

demo: setup
	$(PY) tools/misc/demo.py
