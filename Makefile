# The study's commands. `make install`, `make study`, `make test` are the README's three commands.
PYTHON ?= python

.PHONY: install study test test-fast bench clean-results

install:  ## install the study and its tools, then convert NAS-Bench-Graph's bundled data once
	$(PYTHON) -m pip install -e ".[dev]"
	$(PYTHON) -m lib.importers nbgraph --if-missing

study:  ## searches on the default benchmark (NAS-Bench-Graph/Cora, 10 seeds; every method, arch2vec over 3 pretraining seeds), then every numbered notebook → results/; times each step (results/study_timing.json)
	$(PYTHON) scripts/study.py

test:  ## the full test suite (notebooks included), on TEST_WORKERS pytest-xdist workers (default 2; 0 = serial)
	$(PYTHON) -m pytest -q -n $${TEST_WORKERS:-2} --dist loadgroup

test-fast:  ## unit tests only
	$(PYTHON) -m pytest -q -n $${TEST_WORKERS:-2} --dist loadgroup --ignore=tests/test_notebooks.py

bench:  ## loading and harness figures
	$(PYTHON) scripts/bench_loading.py

clean-results:
	rm -rf results/*/ results/executed
