# credwarden — every target sets itself up on a fresh machine (only python3 is needed).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo fleet-demo test lint format install interop bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,postgres]'
	touch $(STAMP)

## demo: the product's story against a simulated modem: plan, apply, re-apply, a vanished credential found by
##       doctor and audit, repaired by apply, the inventory history (everything in .demo/)
demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

## fleet-demo: a broker, three simulated devices reporting over MQTT, the collector, an alert when one loses a
## credential, and the dashboard's URL (serving until Ctrl-C from a terminal)
fleet-demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/with-mosquitto.sh bash scripts/fleet-demo.sh

## test: the whole suite (starts a throwaway PostgreSQL server for the inventory tests)
test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/run-tests.sh

## lint: ruff check, ruff format --check and mypy (strict); CI runs it
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## format: apply ruff's formatting and safe fixes
format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

## install: a private virtual environment in $(PREFIX)/lib/credwarden, `credwarden` linked into $(PREFIX)/bin
PREFIX ?= $(HOME)/.local
install:
	$(PYTHON) -m venv $(PREFIX)/lib/credwarden
	$(PREFIX)/lib/credwarden/bin/python -m pip install -q --upgrade pip
	$(PREFIX)/lib/credwarden/bin/python -m pip install -q '.[postgres]'
	mkdir -p $(PREFIX)/bin
	ln -sf $(PREFIX)/lib/credwarden/bin/credwarden $(PREFIX)/bin/credwarden
	@echo "installed: $(PREFIX)/bin/credwarden -> $(PREFIX)/lib/credwarden (add $(PREFIX)/bin to PATH if needed)"

## interop: drive Nordic's nrfcredstore (separate venv) against `credwarden sim`
interop: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -m interop -p no:cacheprovider tests

## bench: print the speed / memory figures (see bench/README.md)
bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash bench/run-all.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .demo .fleet-demo
