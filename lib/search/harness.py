"""One protocol for every search method: :func:`run_search`.

A run gets a benchmark, a method name with its hyper-parameters, a budget of
distinct architectures and a seed. The method sees only a
:class:`~lib.search.oracle.SearchOracle` (validation accuracy and costs);
the harness records each new query together with the test accuracy read from
the benchmark's table, and ends the run cleanly when the method asks for more
than the budget.

Seeding: the method receives ``numpy.random.default_rng(seed)``, and
``torch.manual_seed(seed)`` and ``random.seed(seed)`` are set first, so
torch-based methods are deterministic on CPU too.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import time
from datetime import datetime, timezone
from typing import Any

import numpy as np

from lib.benchmark import INFO_COLUMNS, TEST, VAL, Benchmark, load_benchmark
from lib.cell import Cell
from lib.errors import BudgetExhaustedError
from lib.results import code_version
from lib.search.oracle import SearchOracle
from lib.search.registry import get_method, resolve_hyperparameters
from lib.search.trajectory import Trajectory, json_scalar

HARNESS_VERSION = 1
"""Part of every config hash: bump it when the protocol changes what a run means."""


def config_hash(method: str, hyperparameters: dict[str, Any]) -> str:
    """Short stable hash of (method, resolved hyper-parameters, harness version)."""
    text = json.dumps({"method": method, "hyperparameters": hyperparameters, "harness": HARNESS_VERSION},
                      sort_keys=True, allow_nan=False)  # fmt: skip
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def _code_version() -> str:
    return code_version()


def parse_benchmark(spec: str | Benchmark) -> Benchmark:
    """A benchmark from ``"name"`` or ``"name:dataset"`` (a Benchmark passes through)."""
    if isinstance(spec, Benchmark):
        return spec
    name, _, dataset = str(spec).partition(":")
    return load_benchmark(name, dataset or None)


def native_text(space: Any, cell: Cell) -> str:
    """The cell's native form as text (arch strings stay as they are)."""
    native = space.to_native(cell)
    if isinstance(native, str):
        return native
    return json.dumps(native, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))


_FACTS: dict[tuple, tuple[dict[str, Any], dict[str, list[float]]]] = {}


def table_facts(benchmark: Benchmark) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """The oracle facts and ``{metric: [min, max]}`` of the numeric metrics (cached on the table)."""
    cache_key = (benchmark.name, benchmark.dataset, id(benchmark.table), len(benchmark.table))
    if cache_key not in _FACTS:
        bounds = {}
        for column in benchmark.table.columns:
            if column in INFO_COLUMNS or not np.issubdtype(benchmark.table[column].dtype, np.number):
                continue
            values = benchmark.table[column]
            bounds[column] = [float(values.min()), float(values.max())]
        _FACTS[cache_key] = ({k: json_scalar(v) for k, v in benchmark.oracle().items()}, bounds)
    return _FACTS[cache_key]


def run_search(benchmark: Benchmark | str, method: str, budget: int, seed: int, **hyperparameters: Any) -> Trajectory:
    """Runs one search method under the study's protocol.

    Args:
        benchmark: A :class:`Benchmark` or ``"name:dataset"``.
        method: A registered method name (see :func:`available_methods`).
        budget: Distinct architectures the method may query.
        seed: Seeds numpy (the method's ``rng``), torch and ``random``.
        **hyperparameters: Overrides of the method's defaults.

    Returns:
        The trajectory: one record per distinct query, with metadata.

    Raises:
        UnknownMethodError: No method has that name.
        TypeError: A hyper-parameter the method does not take.
        RuntimeError: The method spent more than its budget (a harness bug).
    """
    bench = parse_benchmark(benchmark)
    cls = get_method(method)
    resolved = resolve_hyperparameters(cls, hyperparameters)
    seed = int(seed)
    rng = np.random.default_rng(seed)
    random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # torch is a dependency, but the harness itself does not need it
        pass

    records: list[dict[str, Any]] = []
    metrics = [m for m in bench.metrics if m not in (VAL, TEST)]

    def record(cell: Cell, key: str, row: dict[str, Any], elapsed: float) -> None:
        records.append({
            "step": len(records) + 1, "key": key, "native": native_text(bench.space, cell),
            "val_acc": json_scalar(row[VAL]), "test_acc": json_scalar(row.get(TEST)), "wall_time_s": elapsed,
            **{m: json_scalar(row.get(m)) for m in metrics},
        })  # fmt: skip

    oracle = SearchOracle(bench, budget, recorder=record)
    instance = cls(**resolved)
    started = time.perf_counter()
    exhausted = False
    try:
        instance.search(oracle, rng)
    except BudgetExhaustedError:
        exhausted = True
    total = time.perf_counter() - started
    if oracle.num_queried > oracle.budget or len(records) != oracle.num_queried:
        raise RuntimeError(f"{method} queried {oracle.num_queried} architectures on a budget of {budget}")

    facts, bounds = table_facts(bench)
    metadata = {
        "benchmark": bench.name, "dataset": bench.dataset, "method": method,
        "hyperparameters": resolved, "budget": int(budget), "seed": seed,
        "config_hash": config_hash(method, resolved), "code_version": _code_version(),
        "anytime": bool(getattr(cls, "anytime", True)), "harness_version": HARNESS_VERSION,
        "num_queried": oracle.num_queried, "num_calls": oracle.num_calls,
        "stopped_by_budget": exhausted or oracle.remaining == 0,
        "total_wall_time_s": total, "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "oracle": facts, "cost_bounds": bounds,
    }  # fmt: skip
    return Trajectory(metadata, records)
