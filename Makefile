# int8sim: `make sim` and `make test` set up a fresh machine by themselves (see scripts/bootstrap.sh).
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.bootstrap-stamp
MODEL ?= mobilenetv2
# Work run at once: pytest's workers, make sim's simulations; default every core this shell may use
JOBS  ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all bootstrap clean-cache sim layers targets waves test test-fast test-slow golden golden-export models bench bench-golden lint typecheck train accept-cycles clean help

all: test

help:
	@echo "make sim [LAYER=conv3] [SIM=verilator|icarus|both] [WAVES=1|auto] [MODEL=...] [SEED=n] [MEM_STALL=0..255]"
	@echo "         [W_BITS=2..8] [A_BITS=4..8] [KEEP_ENDS=1] [QAT=1]  weights / activations golden quantizes to (default 8/8); QAT=1: trained at them"
	@echo "         [JOBS=n]         simulations at once, the layers split between them (default: every core)"
	@echo "                          run conv/fc layers on the accelerator RTL and compare with golden"
	@echo "make layers [MODEL=...]   list the model's layers (RTL or golden only)"
	@echo "make waves LAYER=conv3    open GTKWave on the last waveform of that layer"
	@echo "make hexgen [MODEL=...]   write the memory images (HEXGEN_OUT=build/hexgen/MODEL)"
	@echo "make test                 the regression (pytest, both simulators where benches exist)"
	@echo "make test-fast            pure-Python tests only (no simulator)"
	@echo "make test-slow            long sweeps (marker: slow)"
	@echo "make test-shard SPLITS=4 GROUP=k   one shard of make test, cut by stored durations (the CI workflow's; docs/ci.md)"
	@echo "make ci-report            the shards' JUnit results, coverage and mutation reports merged into one report"
	@echo "make mutate [MUTATE_COUNT=40] [TARGET=...] [JOBS=n] mutation testing of rtl/ (or a target's Verilog): killed / survived per change (docs/rtl.md); n workers, each in a copy of the checkout"
	@echo "make coverage             functional coverage of the layer space the last runs hit, with the holes"
	@echo "make golden [MODEL=...]   layer table and accuracies of float / PyTorch int8 / golden"
	@echo "make golden-export [MODEL=...] [OUT=dir] [IMAGES=1]  golden's integers per layer (.npz) and geometry (JSON)"
	@echo "make bench                benchmarks (ratios, not timed tests)"
	@echo "make sweep MODEL=vgg      test accuracy of float and golden at weights 2..8 x activations 4..8, accumulator bits, a plot"
	@echo "make train                retrain the shipped digits models (rewrites golden/models/checkpoints)"
	@echo "make accept-cycles        accept the shipped models' exact cycles per layer (tests/cycle_baseline.json)"
	@echo "make clean-cache          remove the memory images this user's checkouts share (~/.cache/int8sim/images)"

# .venv takes its dependencies from an environment in int8sim's cache (scripts/bootstrap.sh): when
# that was removed, the stamp goes and the set-up runs again
ifneq ($(wildcard $(VENV)/int8sim-deps),)
ifeq ($(wildcard $(shell cat $(VENV)/int8sim-deps)/.int8sim-complete),)
$(shell rm -f $(STAMP))
endif
endif

$(STAMP): pyproject.toml scripts/bootstrap.sh scripts/deps_key.py
	bash scripts/bootstrap.sh
	@touch $@

bootstrap: $(STAMP)

# make sim [LAYER=conv3[,fc1]] [SIM=verilator|icarus|both] [WAVES=1|auto] [MODEL=...] [SEED=n] [CHAIN=1 [CHAIN_IMAGES=32]]
#          [MEM_STALL=0..255] [MEM_LATENCY=8]
LAYER ?=
SEED  ?= 0
# auto: a failing layer is rerun alone with waves (its failure bundle gets them); 1: every layer; 0: none
WAVES ?= auto
CHAIN ?=
CHAIN_IMAGES ?= 32
MEM_STALL ?= 0
MEM_LATENCY ?= 8
# the hardware description: a preset of hexgen/hw.py (default, large, tiny, edge) or path.json
HW ?= default
# the accelerator: engine (ours), a shipped target (make targets) or path/to/target.py (docs/targets.md)
TARGET ?= engine

sim: $(STAMP)
	$(PY) -m tb.layer_sim --model $(MODEL) --target $(TARGET) --sim $(or $(SIM),verilator) --seed $(SEED) \
		--mem-stall $(MEM_STALL) --mem-latency $(MEM_LATENCY) --hw $(HW) \
		$(if $(LAYER),--layer $(LAYER)) --waves $(or $(WAVES),auto) $(if $(CHAIN),--chain-setting $(CHAIN)) $(if $(filter 1,$(CHAIN)),--chain $(CHAIN_IMAGES)) \
		$(if $(W_BITS),--w-bits $(W_BITS)) $(if $(A_BITS),--a-bits $(A_BITS)) $(if $(filter 1,$(KEEP_ENDS)),--keep-ends) $(if $(filter 1,$(QAT)),--qat) \
		--jobs $(JOBS)

layers: $(STAMP)
	$(PY) -m tb.layer_sim --list --model $(MODEL) --hw $(HW) --target $(TARGET) $(if $(W_BITS),--w-bits $(W_BITS)) $(if $(A_BITS),--a-bits $(A_BITS)) $(if $(filter 1,$(KEEP_ENDS)),--keep-ends) $(if $(filter 1,$(QAT)),--qat)

# the accelerators make sim can verify, one a line, name first (tb/target.py)
targets: $(STAMP)
	@$(PY) -m tb.target

waves:
	@f=build/waves/$(or $(LAYER),all).gtkw; \
	if [ ! -f $$f ]; then echo "no waveform for $(or $(LAYER),all): run  make sim LAYER=$(LAYER) WAVES=1  first"; exit 1; fi; \
	if ! command -v gtkwave >/dev/null; then echo "gtkwave is not installed (apt-get install -y gtkwave); save file: $$f"; exit 1; fi; \
	gtkwave $$f

golden: $(STAMP)
	$(PY) -m golden summary --model $(MODEL) $(if $(W_BITS),--w-bits $(W_BITS)) $(if $(A_BITS),--a-bits $(A_BITS)) $(if $(filter 1,$(KEEP_ENDS)),--keep-ends) $(if $(filter 1,$(QAT)),--qat)

# golden's integers for a testbench of your own (docs/golden.md, "Export for your own testbench")
IMAGES ?= 1
golden-export: $(STAMP)
	$(PY) -m golden export --model $(MODEL) --images $(IMAGES) $(if $(OUT),--out '$(OUT)')

models: $(STAMP)
	$(PY) -m golden models

# --dist worksteal: an idle worker takes tests queued on the other (the long simulator tests
# otherwise leave one core idle at the end; measured 172 s -> 161 s on a clean clone)
test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --dist worksteal -q

# ---- CI (issue 29): the regression in shards of equal stored duration, merged (docs/ci.md) ----
# make test-shard SPLITS=4 GROUP=2: one shard (pytest-split, tests/.test_durations) into CI_OUT
# (JUnit results and the coverage its processes exported); make ci-report merges the shards' folders
SPLITS ?= 4
GROUP  ?= 1
CI_OUT ?= build/ci/shard-$(GROUP)
test-shard: $(STAMP)
	@mkdir -p $(CI_OUT)/coverage-$(GROUP)
	$(PY) -m pytest -n $(JOBS) --dist worksteal -q --splits $(SPLITS) --group $(GROUP) \
		--durations-path tests/.test_durations --junitxml $(CI_OUT)/junit-$(GROUP).xml; status=$$?; \
		cp build/coverage/cov-*.yml $(CI_OUT)/coverage-$(GROUP)/ 2>/dev/null; exit $$status

# the stored durations the shards are cut by: rerun after adding many tests (commit the file)
test-durations: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --dist worksteal -q --store-durations --durations-path tests/.test_durations

ci-report: $(STAMP)
	$(PY) scripts/ci_report.py $(or $(CI_FOLDERS),$(wildcard build/ci/shard-*))

.PHONY: test-shard test-durations ci-report

test-fast: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -q -m "not sim and not slow"

test-slow: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --dist worksteal -q -m slow -o addopts=""

typecheck: $(STAMP)
	$(PY) -m mypy

bench: bench-golden bench-sim

bench-sim: $(STAMP)
	$(PY) scripts/bench_sim.py --hw $(HW) $(if $(NETWORK),--network $(NETWORK)) $(if $(PACKED),--packed-only)

bench-golden: $(STAMP)
	$(PY) scripts/bench_golden.py --model $(MODEL)

# test accuracy of float and of golden at weights 2..8 x activations 4..8, the accumulator bits each
# layer needs, and a plot (scripts/sweep.py; docs/golden.md, "Narrow widths")
sweep: $(STAMP)
	$(PY) scripts/sweep.py --model $(MODEL) $(if $(SWEEP_W_BITS),--w-bits $(SWEEP_W_BITS)) $(if $(SWEEP_A_BITS),--a-bits $(SWEEP_A_BITS))

.PHONY: sweep

train: $(STAMP)
	$(PY) scripts/train_models.py $(MODELS) $(if $(filter 1,$(QAT)),--qat --w-bits $(or $(W_BITS),8) --a-bits $(or $(A_BITS),8) \
		$(if $(filter 1,$(KEEP_ENDS)),--keep-ends) $(if $(EPOCHS),--epochs $(EPOCHS)))

# the exact cycles of every layer of the shipped models, which make test holds (tests/cycle_baseline.json)
accept-cycles: $(STAMP)
	$(PY) scripts/accept_cycles.py

clean:
	rm -rf build sim_build .pytest_cache

# the memory images this user's checkouts share (tb.images.cache_root: ~/.cache/int8sim/images)
clean-cache: $(STAMP)
	@$(PY) -c "import shutil; from tb.images import IMAGES; shutil.rmtree(IMAGES, ignore_errors=True); print('removed', IMAGES)"

# ---- RTL (issue 4): lint, unit benches, unit benchmark -------------------------------------
.PHONY: lint test-rtl bench-units
SIM ?=

lint: $(STAMP)
	$(PY) -m tb.lint --hw $(HW)

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
	$(PY) -m hexgen --model $(MODEL) --hw $(HW) --out $(HEXGEN_OUT) $(if $(W_BITS),--w-bits $(W_BITS)) $(if $(A_BITS),--a-bits $(A_BITS)) \
		$(if $(filter 1,$(KEEP_ENDS)),--keep-ends) $(if $(filter 1,$(QAT)),--qat) $(HEXGEN_ARGS)
	$(PY) -m hexgen check $(HEXGEN_OUT)

hexgen-check: $(STAMP)
	$(PY) -m hexgen check $(HEXGEN_OUT)

# ---- resources (issue 10 item 6): Yosys resource estimate per unit; see docs/resources.md -----
# make resources [HW=preset|path.json] [PARAMS="COLS=4 ACT_WORDS=8192"]
.PHONY: resources
PARAMS ?=

resources: $(STAMP)
	$(PY) -m tb.engine.resources --hw $(HW) $(foreach p,$(PARAMS),--param $(p)) $(if $(filter-out default file,$(origin MODEL)),--model $(MODEL))

# make mutate [MUTATE_FILES=rtl/gather.sv,...] [MUTATE_LINES=rtl/gather.sv:86,...] [MUTATE_COUNT=40] [MUTATE_SEED=1]
#             [MUTATE_TESTS="pytest args"] [MUTATE_RESUME=build/mutate/<stamp>.json[,...]] [MUTATE_ARGS="--summary"]
#             [TARGET=pwfc|path/to/target.py [MUTATE_MODEL=mlp]]
# mutation testing of rtl/ (scripts/mutate.py; docs/rtl.md, "Mutation"): one change at a time,
# always restored; killed / survived / could not build, every survivor with file:line. TARGET=: the
# target's own Verilog, judged by its own verdicts on MUTATE_MODEL (docs/targets.md, "Mutation")
MUTATE_COUNT ?= 40
MUTATE_SEED ?= 1
mutate: $(STAMP)
	$(PY) scripts/mutate.py --count $(MUTATE_COUNT) --seed $(MUTATE_SEED) $(if $(MUTATE_FILES),--files $(MUTATE_FILES)) \
		$(if $(MUTATE_LINES),--lines $(MUTATE_LINES)) $(if $(MUTATE_TESTS),--tests "$(MUTATE_TESTS)") \
		$(if $(MUTATE_RESUME),--resume $(MUTATE_RESUME)) --target "$(TARGET)" $(if $(MUTATE_MODEL),--model $(MUTATE_MODEL)) \
		--jobs $(JOBS) $(MUTATE_ARGS)

.PHONY: mutate

# the functional coverage of the layer space of the last make test / make sim runs (tb/coverage.py)
coverage: $(STAMP)
	$(PY) -m tb.coverage

.PHONY: coverage
