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

from lib.benchmark import TEST, VAL, Benchmark, load_benchmark
from lib.cell import Cell
from lib.errors import BudgetExhaustedError
from lib.results import code_version
from lib.search.oracle import SearchOracle
from lib.search.registry import get_method, resolve_hyperparameters
from lib.search.trajectory import Trajectory, json_scalar

HARNESS_VERSION = 2
"""Part of every run's identity: bump it when the protocol changes what a run means.

2: sealed oracle (no test column, call cap), pool-restricted moves, run
identity with method version, table digest and model identity.
"""


def prepare_method(benchmark: Benchmark, method: str, hyperparameters: dict[str, Any]) -> dict[str, Any] | None:
    """Trains or loads what a method needs before it searches, and returns the model's identity.

    A method class may define ``prepare(benchmark, **hyperparameters)``
    (a classmethod) that pretrains or loads its models (cached) and returns
    ``{"digest": state-dict digest, "provenance": {...}, ...}``; methods
    without models return ``None``. The sweep calls this in its parent
    process before dispatching runs, so every worker loads the same cached
    model instead of training its own.
    """
    cls = get_method(method)
    prepare = getattr(cls, "prepare", None)
    if prepare is None:
        return None
    return prepare(benchmark, **resolve_hyperparameters(cls, hyperparameters))


def run_identity(benchmark: Benchmark, method: str, hyperparameters: dict[str, Any],
                 model: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Everything that decides what a run computes, as JSON values.

    The method and its version (the class attribute ``version``), its
    resolved hyper-parameters, the harness version, the digest of the
    benchmark table's content and the identity of the model the method
    loaded (:func:`prepare_method`). Two runs with the same identity and
    seed query the same cells.
    """
    cls = get_method(method)
    return {
        "method": method, "method_version": int(getattr(cls, "version", 1)),
        "hyperparameters": resolve_hyperparameters(cls, hyperparameters), "harness": HARNESS_VERSION,
        "table_digest": benchmark.content_digest(), "model": model,
    }  # fmt: skip


def config_hash(identity: dict[str, Any]) -> str:
    """Short stable hash of a :func:`run_identity` (names the stored run)."""
    text = json.dumps(identity, sort_keys=True, allow_nan=False)
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


def _method_stats(instance: Any, method: str) -> dict[str, Any] | None:
    """The method's own per-run diagnostics (``instance.run_stats()``, optional), checked to be JSON.

    A method may define ``run_stats(self) -> dict`` to put what only it knows
    into the run record (e.g. per-round counts of invalid or already-known
    decodings); it is read after the search, so it can describe the whole run.
    """
    stats = getattr(instance, "run_stats", None)
    if not callable(stats):
        return None
    value = stats()

    def numpy_values(obj: Any) -> Any:  # numpy scalars and arrays become plain numbers and lists
        if hasattr(obj, "tolist"):
            return obj.tolist()
        raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")

    try:
        return json.loads(json.dumps(value, default=numpy_values))
    except TypeError as exc:
        raise TypeError(f"{method}.run_stats() must return JSON-serialisable data: {exc}") from None


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
    model = prepare_method(bench, method, resolved)
    identity = run_identity(bench, method, resolved, model)
    seed = int(seed)
    rng = np.random.default_rng(seed)
    random.seed(seed)
    torch_threads = None
    try:
        import torch

        torch.manual_seed(seed)
        torch_threads = torch.get_num_threads()
    except ImportError:  # torch is a dependency, but the harness itself does not need it
        pass

    records: list[dict[str, Any]] = []
    metrics = [m for m in bench.metrics if m not in (VAL, TEST)]

    def record(cell: Cell, key: str, row: dict[str, Any], elapsed: float) -> None:
        records.append({
            "step": len(records) + 1, "key": key, "native": native_text(bench.space, cell),
            "val_acc": json_scalar(row[VAL]), "test_acc": None, "wall_time_s": elapsed,
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
    method_stats = _method_stats(instance, method)
    counted = oracle.budget_counters()["num_unique"]
    if counted > int(budget) or len(records) != counted:
        raise RuntimeError(f"{method} queried {counted} architectures on a budget of {budget} "
                           f"({len(records)} recorded)")  # fmt: skip
    if bench.has_test:  # read only now: nothing the method could reach held a test accuracy
        for rec in records:
            rec["test_acc"] = json_scalar(bench.table.at[rec["key"], TEST])

    facts, bounds = bench.facts()
    metadata = {
        "benchmark": bench.name, "dataset": bench.dataset, "method": method,
        "hyperparameters": resolved, "budget": int(budget), "seed": seed,
        "config_hash": config_hash(identity), "code_version": _code_version(),
        "method_version": identity["method_version"], "table_digest": identity["table_digest"],
        "model": model, "anytime": bool(getattr(cls, "anytime", True)), "harness_version": HARNESS_VERSION,
        "num_queried": counted, "num_calls": oracle.num_calls, "fallbacks": dict(oracle.fallbacks),
        "method_stats": method_stats, "stopped_by_budget": exhausted or oracle.remaining == 0,
        "total_wall_time_s": total, "torch_threads": torch_threads,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "oracle": facts, "cost_bounds": bounds,
    }  # fmt: skip
    return Trajectory(metadata, records)
