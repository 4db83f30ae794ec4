# Set-up and everyday commands. Each target creates .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/genlab demo --out runs/demo

# Fast suite plus the slow quality checks kept in CI, in JOBS worker processes of one thread each
# (pytest-xdist), listing the 15 slowest; pytest's "no tests collected" (5) is not a failure.
JOBS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(JOBS) -m "not slow or ci" --durations=15 ; rc=$$?; [ $$rc -eq 5 ] && exit 0; exit $$rc

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -n $(JOBS)

bench: $(STAMP)
	@for s in benchmarks/*.py; do echo "== $$s"; $(BIN)/python $$s || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache
