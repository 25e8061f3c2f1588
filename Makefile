# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and install as needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=
# pytest-xdist processes for `make test` (the tests mostly wait on real servers); 0 runs in this process
TEST_WORKERS ?= 2
ARGS ?=
PIP_QUIET := --quiet

.PHONY: install demo test bench lint protos clean

$(BIN)/python:
	@echo "==> creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_QUIET) --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "==> installing omni-readmodel and its dependencies into $(VENV) (first time: a minute or so)"
	$(BIN)/python -m pip install $(PIP_QUIET) -e '.[test]' --config-settings editable_mode=compat
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

# pip shows its progress when installing for the demo (target-specific: applies to its prerequisites too).
demo: PIP_QUIET :=
demo: install
	$(BIN)/omni-readmodel demo $(ARGS)

test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench $(ARGS)

lint: install
	$(BIN)/ruff check .

protos: install
	$(BIN)/python scripts/gen_protos.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache omni-readmodel.db omni-readmodel.db-* omni-readmodel.db.*
