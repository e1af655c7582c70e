"""Search methods under one protocol, and their stored runs.

* :func:`register_method` / :func:`get_method` / :func:`available_methods` —
  the registry of methods (baselines in :mod:`lib.search.baselines`).
* :class:`SearchOracle` — what a method sees: counted, budgeted validation
  accuracy and costs, never the test accuracy.
* :func:`run_search` — runs one method on one benchmark with a budget and a
  seed and returns its :class:`Trajectory`.
* :class:`~lib.search.store.ResultStore` — runs saved under ``results/runs``.
"""

from lib.search.harness import config_hash, run_search
from lib.search.oracle import SearchOracle
from lib.search.registry import (
    UnknownMethodError,
    available_methods,
    default_hyperparameters,
    get_method,
    register_method,
    resolve_hyperparameters,
)
from lib.search.trajectory import Trajectory, hypervolume_2d, pareto_mask

from lib.search import baselines  # noqa: E402,F401  (registers the baselines)

__all__ = [
    "register_method",
    "get_method",
    "available_methods",
    "run_search",
    "SearchOracle",
    "Trajectory",
    "UnknownMethodError",
    "config_hash",
    "default_hyperparameters",
    "resolve_hyperparameters",
    "pareto_mask",
    "hypervolume_2d",
]
