# int8sim: `make sim` and `make test` set up a fresh machine by themselves (see scripts/bootstrap.sh).
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.bootstrap-stamp
MODEL ?= mobilenetv2
# Parallel pytest workers; CI machines have two cores.
JOBS  ?= 2

.PHONY: all bootstrap sim test test-fast test-slow golden models bench bench-golden lint typecheck train clean help

all: test

help:
	@echo "make sim [MODEL=...]      run the model (until the RTL layer simulation exists: the golden model summary)"
	@echo "make test                 the regression (pytest, both simulators where benches exist)"
	@echo "make test-fast            pure-Python tests only (no simulator)"
	@echo "make test-slow            long sweeps (marker: slow)"
	@echo "make golden [MODEL=...]   layer table and accuracies of float / PyTorch int8 / golden"
	@echo "make bench                benchmarks (ratios, not timed tests)"
	@echo "make train                retrain the shipped digits models (rewrites golden/models/checkpoints)"

$(STAMP): pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	@touch $@

bootstrap: $(STAMP)

sim: $(STAMP)
	$(PY) -m golden summary --model $(MODEL)

golden: $(STAMP)
	$(PY) -m golden summary --model $(MODEL)

models: $(STAMP)
	$(PY) -m golden models

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -q

test-fast: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -q -m "not sim and not slow"

test-slow: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -q -m slow -o addopts=""

typecheck: $(STAMP)
	$(PY) -m mypy

bench: bench-golden

bench-golden: $(STAMP)
	$(PY) scripts/bench_golden.py --model $(MODEL)

train: $(STAMP)
	$(PY) scripts/train_models.py

clean:
	rm -rf build sim_build .pytest_cache

# ---- RTL (issue 4): lint, unit benches, unit benchmark -------------------------------------
.PHONY: lint test-rtl bench-units
SIM ?=

lint: $(STAMP)
	$(PY) -m tb.lint

test-rtl: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -q tests/test_rtl_*.py $(if $(SIM),-k $(SIM))

bench-units: $(STAMP)
	$(PY) scripts/bench_units.py
bench: bench-units

# ---- hexgen (issue 3): memory images, memory map, Verilog header; see docs/memory-map.md -------
.PHONY: hexgen hexgen-check
HEXGEN_OUT ?= build/hexgen/$(MODEL)
HEXGEN_ARGS ?=

hexgen: $(STAMP)
	$(PY) -m hexgen --model $(MODEL) --out $(HEXGEN_OUT) $(HEXGEN_ARGS)
	$(PY) -m hexgen check $(HEXGEN_OUT)

hexgen-check: $(STAMP)
	$(PY) -m hexgen check $(HEXGEN_OUT)
