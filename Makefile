# nanotrig: the two set-up commands are `make hls MODEL=c2` and `make test`;
# both create .venv on first use.
MODEL ?= c2
PART  ?= xcvu13p-flga2577-2-e
CLOCK ?= 200
INPUTS ?= cartesian
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: all env hls test test-all lint data report bench clean

all: test

$(STAMP): pyproject.toml scripts/bootstrap.sh
	@scripts/bootstrap.sh

env: $(STAMP)

# firmware/c2 (Cartesian inputs) or firmware/c2-puppi (INPUTS=puppi)
FW_DIR := firmware/$(MODEL)$(if $(filter puppi,$(INPUTS)),-puppi,)

hls: $(STAMP)
	$(BIN)/nanotrig hls $(MODEL) --out $(FW_DIR) --part $(PART) --clock $(CLOCK) --inputs $(INPUTS)

test: $(STAMP)
	$(BIN)/ruff check nanotrig tests tb bench
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check nanotrig tests tb bench

data: $(STAMP)
	$(BIN)/nanotrig gen-data --out data/standin-400-800 --train 84000 --val 18000 --test 18000 --pthat-min 400 --pthat-max 800 --smear --seed 1

report: $(STAMP)
	$(BIN)/nanotrig report $(MODEL) --clock $(CLOCK) --inputs $(INPUTS)

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH)

clean:
	rm -rf firmware build sim_build .pytest_cache
