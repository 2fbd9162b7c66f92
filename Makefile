# The two commands a new user runs are `make demo` and `make test`; both set up what they need.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo demo-aic test test-fast lint schemas bench clean

install: $(STAMP)

# Re-install when the project's dependencies change; a stamp keeps repeated runs fast.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "idmctl needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: install
	$(BIN)/python scripts/demo.py

demo-aic: install
	$(BIN)/python scripts/demo_aic.py

test: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow"

lint: install
	$(BIN)/ruff check controller tests benchmarks

schemas: install
	$(BIN)/python -m controller.config.schemagen schemas controller/config/schemas

bench: install
	$(BIN)/python -m benchmarks
	$(BIN)/python benchmarks/identities_page.py

clean:
	rm -rf $(VENV) .idmctl .emulator .emulator-aic .pytest_cache .ruff_cache .mypy_cache
