# The two commands of README: `make demo` (set-up + the main job) and `make test` (set-up + tests).
VENV ?= $(or $(SE_VENV),$(CURDIR)/.venv)
PY := $(VENV)/bin/python
export SE_VENV := $(VENV)

.PHONY: setup test demo

setup:
	bash tools/setup_env.sh

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

demo: setup
	$(PY) tools/misc/demo.py
