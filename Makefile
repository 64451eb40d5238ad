# make test : install everything (apt + pip into .venv) and run the fast test suite
# make demo : install everything and run the whole pipeline on the mini corpus (egs/mini/demo.sh)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-all demo bench clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml tests/plugin_pkg/setup.cfg scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip "setuptools<81" wheel
# laura was installed as the distribution "laura" before it became laura-speech: drop that install,
# or its entry points would register every built-in task twice
	! $(BIN)/pip show laura 2>/dev/null | grep -qx "Editable project location: $(CURDIR)" || $(BIN)/pip uninstall -q -y laura
	rm -rf laura.egg-info
	$(BIN)/pip install -q -e ".[test]" -e tests/plugin_pkg
	touch $@

test: install
	$(BIN)/python -m pytest -q

# Also the slow end-to-end runs.
test-all: install
	$(BIN)/python -m pytest -q -m "slow or not slow"

demo: install
	bash egs/mini/demo.sh

clean:
	rm -rf $(VENV) build *.egg-info exp
