# Two entry points for a fresh machine (see README):
#   make run   - create .venv and run the local default campaign (config/config.yaml)
#   make test  - create .venv and run the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= 2

.PHONY: setup run reproduce test test-fast bench dry-run-paper clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch==2.13.0 is pinned in pyproject: a CPU build that lies on disk here
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

setup: $(VENV)/.installed

run: setup
	$(VENV)/bin/snakemake --cores $(CORES)
	$(VENV)/bin/snakemake --cores 1 --report results/report.html

# The reduced campaign of issue 9 (config/reduced.yaml; about 2 hours on 2 cores) and its report
reproduce: setup
	$(VENV)/bin/snakemake --cores $(CORES) --configfile config/config.yaml config/reduced.yaml
	$(VENV)/bin/snakemake --cores 1 --configfile config/config.yaml config/reduced.yaml --report results/report.html

test: setup
	$(PY) -m pytest -v --durations=40

test-fast: setup
	$(PY) -m pytest -m "not slow and not slurm"

bench: setup
	$(PY) benchmarks/bench_simulation.py

dry-run-paper: setup
	$(VENV)/bin/snakemake -n --quiet rules --configfile config/paper.yaml

clean:
	rm -rf results logs .snakemake
