# The study's commands. `make install`, `make study`, `make test` are the README's three commands.
PYTHON ?= python

.PHONY: install study test test-fast bench clean-results

install:  ## install the study and its tools, then convert NAS-Bench-Graph's bundled data once
	$(PYTHON) -m pip install -e ".[dev]"
	$(PYTHON) -m lib.importers nbgraph --if-missing

SWEEP_METHODS ?= random,evolution,local_search,bananas
A2V_GRID = --grid arch2vec_bo.pretrain_seed=0,1,2 --grid arch2vec_rl.pretrain_seed=0,1,2

study:  ## searches on the default benchmark (NAS-Bench-Graph/Cora, 10 seeds; arch2vec over 3 pretraining seeds), then every numbered notebook → results/
	$(PYTHON) -m lib.sweep --benchmark nbgraph:cora --methods $(SWEEP_METHODS) --seeds 0-9 --budgets 50,100,150,200 --workers 2
	$(PYTHON) -m lib.sweep --benchmark nbgraph:cora --methods arch2vec_bo,arch2vec_rl $(A2V_GRID) --seeds 0-9 --budgets 50,100,150,200 --workers 2
	$(PYTHON) -m lib.sweep --benchmark nbgraph:cora --methods arch2vec_bo --hp 'arch2vec_bo.ei="incumbent"' --grid arch2vec_bo.pretrain_seed=0,1,2 --seeds 0-9 --budgets 50,100,150,200 --workers 2
	$(PYTHON) -m lib.sweep --benchmark nbgraph:cora --methods agnet --seeds 0-4 --budgets 50,100,150,200 --workers 2
	$(PYTHON) scripts/run_notebooks.py

test:  ## the full test suite (notebooks included), on TEST_WORKERS pytest-xdist workers (default 2; 0 = serial)
	$(PYTHON) -m pytest -q -n $${TEST_WORKERS:-2} --dist loadgroup

test-fast:  ## unit tests only
	$(PYTHON) -m pytest -q -n $${TEST_WORKERS:-2} --dist loadgroup --ignore=tests/test_notebooks.py

bench:  ## loading and harness figures
	$(PYTHON) scripts/bench_loading.py

clean-results:
	rm -rf results/*/ results/executed
