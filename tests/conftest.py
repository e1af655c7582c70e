"""Shared fixtures; tests needing ../shared/data skip with a reason when it is absent.

Under pytest-xdist (``make test`` runs ``pytest -n 2``) each worker runs torch
on ONE thread, so two workers share two cores instead of oversubscribing them:
``OMP_NUM_THREADS=1`` is set before torch is imported (notebook kernels and
scripts that tests start inherit it) and ``torch.set_num_threads(1)`` at
configure time. Code that fixes its own thread count (pretraining through
``lib.latent.train.train_cached``, ``lib.threads.torch_threads``) is unaffected,
so cached models are the same models under xdist and without it.
"""

from __future__ import annotations

import os

import pytest

XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
"""``gw0``, ``gw1``… in a pytest-xdist worker, else ``None``."""

if XDIST_WORKER:
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"


def pytest_configure(config):
    if XDIST_WORKER:
        import torch

        torch.set_num_threads(1)

from lib.paths import find_data_file

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
