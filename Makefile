# The study's commands. `make install`, `make study`, `make test` are the README's three commands.
PYTHON ?= python

.PHONY: install study test test-fast bench clean-results

install:  ## install the study and its tools, then convert NAS-Bench-Graph's bundled data once
	$(PYTHON) -m pip install -e ".[dev]"
	$(PYTHON) -m lib.importers nbgraph --if-missing

study:  ## run every numbered notebook on the default benchmark (NAS-Bench-Graph), writing results/
	$(PYTHON) scripts/run_notebooks.py

test:  ## the full test suite (notebooks included)
	$(PYTHON) -m pytest -q

test-fast:  ## unit tests only
	$(PYTHON) -m pytest -q --ignore=tests/test_notebooks.py

bench:  ## loading and harness figures
	$(PYTHON) scripts/bench_loading.py

clean-results:
	rm -rf results/*/ results/executed
