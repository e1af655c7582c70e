"""Shared fixtures; tests needing ../shared/data skip with a reason when it is absent.

Under pytest-xdist (``make test`` runs ``pytest -n 2 --dist loadgroup``) each
worker runs torch on ONE thread, so two workers share two cores instead of
oversubscribing them: ``OMP_NUM_THREADS=1`` is set before torch is imported
(notebook kernels and scripts that tests start inherit it) and
``torch.set_num_threads(1)`` at configure time. Code that fixes its own thread
count (pretraining through ``lib.latent.train.train_cached``, 2 threads;
``lib.threads.torch_threads``) is unaffected, so cached models are the same
models under xdist and without it (while a worker pretrains, the two workers
run three threads on two cores). Tests that
share a model-training module fixture are kept on one worker
(:data:`SHARED_FIXTURE_MODULES`).
"""

from __future__ import annotations

import os

import pytest

XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
"""``gw0``, ``gw1``… in a pytest-xdist worker, else ``None``."""

if XDIST_WORKER:
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"

from lib.paths import find_data_file  # noqa: E402  (after the thread settings, in case it imports torch)

HAS_NB201 = find_data_file("nb201/nb201_cells.csv.gz") is not None or find_data_file("nb201/nb201_cells.parquet") is not None
HAS_NB101 = find_data_file("nb101/nb101_20k_metrics.csv.gz") is not None
HAS_NB101_ALL = find_data_file("nb101/nb101_cells.csv.gz") is not None

needs_nb201 = pytest.mark.skipif(not HAS_NB201, reason="NB201 table not found (put ../shared/data beside the project)")
needs_nb101 = pytest.mark.skipif(not HAS_NB101, reason="NB101 metrics table not found (../shared/data/nb101)")
needs_nb101_all = pytest.mark.skipif(not HAS_NB101_ALL, reason="NB101 structures table not found (../shared/data/nb101)")


@pytest.fixture
def temporary_method():
    """Registers test-only search methods (``@temporary_method("name")``) and removes them afterwards."""
    from lib.search import register_method, registry

    added = []

    def add(name: str):
        def decorate(cls):
            added.append(name)
            return register_method(name)(cls)

        return decorate

    yield add
    for name in added:
        registry._REGISTRY.pop(name, None)


SHARED_FIXTURE_MODULES = {
    "tests/test_agnet.py": "tiny_nb201: a generator pretrained on 2,000 NB201 cells",
    "tests/test_nao_gvae.py": "_tiny_warm_trained: a DAG-VAE warm start on 2,000 NB201 cells",
}
"""Modules whose tests share a model-training module fixture: under ``--dist loadgroup`` (``make test``) each
runs whole on ONE xdist worker, which trains the model once, instead of on every worker that gets one of its tests."""


def pytest_configure(config):
    if XDIST_WORKER:
        import torch

        torch.set_num_threads(1)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: unknown (and unused) where xdist is missing
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` with :data:`SHARED_FIXTURE_MODULES` as groups; every other test is its own unit.

    pytest-xdist 3.8's own ``xdist_group`` marks have no effect under pytest 9
    (its workers rename ``item._nodeid``, which pytest 9 no longer reads), so
    the groups are named here by module, on the controller's side.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class SharedFixtureModules(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in SHARED_FIXTURE_MODULES else super()._split_scope(nodeid)

    return SharedFixtureModules(config, log)
