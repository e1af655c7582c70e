"""Multi-objective views of a search: objectives, constraints, Pareto fronts, hypervolume.

A multi-objective search maximises validation accuracy and minimises one or
more cost columns of the benchmark (latency on a named device, parameters,
FLOPs). Two ways to score a run:

* **joint** — the run's Pareto front (the queried cells that no other queried
  cell beats on every objective) and its **hypervolume**: the volume of the
  objective space it dominates, bounded by a fixed reference point;
* **constrained** — with a bound ``cost ≤ L``: the test accuracy of the best
  feasible cell by validation accuracy, and the share of queries that were
  infeasible.

As in the single-objective tables, a front is selected with what the search
saw (validation accuracy and costs) and reported with test accuracy: the
*test hypervolume* of a run is the hypervolume of the test-accuracy points of
its validation front. The benchmark's **true** fronts (on validation and on
test) are computed once per table content, so hypervolume regret (true
front's hypervolume − the run's) can be reported.

Non-dominated filtering, Pareto ranks and hypervolume come from ``moocore``
(the C library that pymoo ≥ 0.6.2 uses for its own hypervolume indicator);
NSGA-II, in :mod:`lib.search.mo_baselines`, comes from pymoo.

Rules (each documented where it is defined):

* fronts are **sets of distinct points**: cells with identical objective
  tuples appear once (the first queried; in a table, the first row);
* **degenerate cells** (:data:`DEGENERATE_RULES`) are left out of every front,
  true or achieved, and of the constrained scores;
* the **reference point** is fixed per benchmark table × objectives × accuracy
  metric (:data:`REFERENCE_RULE`), never derived from a run.
"""

from __future__ import annotations

import argparse
import difflib
import math
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lib.benchmark import TEST, VAL, INFO_COLUMNS
from lib.errors import StudyError

if TYPE_CHECKING:  # pragma: no cover
    from lib.benchmark import Benchmark
    from lib.search.trajectory import Trajectory

ACCURACIES = (VAL, TEST)
"""Metrics that are maximised; every other numeric metric of a table is a cost (minimised)."""


class ObjectivesError(StudyError, ValueError):
    """An objectives or constraint specification is malformed or names a metric the benchmark lacks."""


# --------------------------------------------------------------------------- objectives and constraints

ALIASES = {
    "val": VAL, "acc": VAL, "accuracy": VAL, "test": TEST,
    "lat": "latency_ms", "latency": "latency_ms", "params": "params_M", "flops": "flops_M",
}  # fmt: skip
"""Short names accepted in specifications, besides ``lat_<device>`` → ``latency_<device>_ms``."""

DEFAULT_COSTS = ("latency_ms", "latency_pixel3_ms", "params_M", "flops_M")
"""Cost chosen by the objectives ``"auto"``: the first of these the benchmark has, else its first cost.

NAS-Bench-Graph's only latency, HW-NAS-Bench's Pixel 3 on NB201, then model size.
"""


def canonical_metric(name: str) -> str:
    """The metric name behind an alias (``lat_pixel3`` → ``latency_pixel3_ms``, ``params`` → ``params_M``)."""
    name = name.strip()
    if name in ALIASES:
        return ALIASES[name]
    if name.startswith("latency_") and name.endswith("_ms"):
        return name
    match = re.fullmatch(r"lat(?:ency)?_([A-Za-z0-9_]+?)(?:_ms)?", name)
    if match:
        return f"latency_{match.group(1)}_ms"
    return name


def cost_metrics(metrics: Iterable[str]) -> list[str]:
    """The cost columns among a benchmark's metrics (numeric columns other than the accuracies)."""
    return [m for m in metrics if m not in ACCURACIES and m not in INFO_COLUMNS and m != "key"]


def _unknown(name: str, available: Sequence[str], where: str) -> ObjectivesError:
    close = difflib.get_close_matches(name, list(available), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return ObjectivesError(f"{where}has no cost metric {name!r}{hint} Its costs: {', '.join(available) or 'none'}")


def _metrics_of(target: Any) -> tuple[list[str], str]:
    """``(metric names, 'name/dataset: ')`` of a Benchmark, or of a plain list of names."""
    if hasattr(target, "metrics") and hasattr(target, "table"):
        return [c for c in target.metrics if pd.api.types.is_numeric_dtype(target.table[c].dtype)], \
            f"{target.name}/{target.dataset} "  # fmt: skip
    return list(target), ""


@dataclass(frozen=True)
class Objectives:
    """Maximise ``accuracy``, minimise every metric in ``costs``.

    Build one with :meth:`parse` (``"val_acc,latency_pixel3_ms"``; aliases
    such as ``lat_pixel3`` or ``params`` work) and check it against a
    benchmark with :meth:`validate`. ``costs == ()`` stands for ``"auto"``
    (:data:`DEFAULT_COSTS`), resolved by :meth:`validate`.
    """

    costs: tuple[str, ...] = ()
    accuracy: str = VAL

    @classmethod
    def parse(cls, spec: "str | Objectives | Sequence[str]") -> "Objectives":
        """Parses ``"val_acc,cost[,cost…]"`` (or ``"auto"``); checks the syntax only.

        The accuracy may be left out (``"lat_pixel3"`` means
        ``"val_acc,latency_pixel3_ms"``). A search optimises validation
        accuracy, so ``test_acc`` is refused.

        Raises:
            ObjectivesError: Empty, ``test_acc``, two accuracies, or a repeated cost.
        """
        if isinstance(spec, Objectives):
            return spec
        parts = [p.strip() for p in (spec.split(",") if isinstance(spec, str) else spec)]
        parts = [p for p in parts if p]
        if not parts:
            raise ObjectivesError(f"empty objectives {spec!r}; give e.g. 'val_acc,latency_pixel3_ms' or 'auto'")
        if parts == ["auto"]:
            return cls()
        names = [canonical_metric(p) for p in parts]
        if TEST in names:
            raise ObjectivesError(f"objectives {spec!r}: a search never sees test accuracy; maximise 'val_acc'")
        costs = tuple(n for n in names if n != VAL)
        if len(names) - len(costs) > 1 or len(set(costs)) != len(costs):
            raise ObjectivesError(f"objectives {spec!r} repeat a metric; give each once")
        if not costs:
            raise ObjectivesError(f"objectives {spec!r} have no cost; add one, e.g. 'val_acc,latency_pixel3_ms'")
        return cls(costs)

    def validate(self, target: Any) -> "Objectives":
        """The objectives with ``"auto"`` resolved, checked against a benchmark (or a list of metric names).

        Raises:
            ObjectivesError: A cost the benchmark does not have (the message
                lists the costs it has), or no cost at all for ``"auto"``.
        """
        metrics, where = _metrics_of(target)
        where = f"benchmark {where}" if where else "the table "
        costs = cost_metrics(metrics)
        if self.accuracy not in metrics:
            raise ObjectivesError(f"{where}has no {self.accuracy!r} column to maximise")
        if not self.costs:
            chosen = next((c for c in DEFAULT_COSTS if c in costs), costs[0] if costs else None)
            if chosen is None:
                raise ObjectivesError(f"{where}has no cost metric: nothing to trade accuracy against")
            return Objectives((chosen,), self.accuracy)
        for cost in self.costs:
            if cost not in costs:
                raise _unknown(cost, costs, where)
        return self

    @property
    def names(self) -> tuple[str, ...]:
        """``(accuracy, *costs)``."""
        return (self.accuracy, *self.costs)

    @property
    def is_auto(self) -> bool:
        return not self.costs

    def on(self, accuracy: str) -> "Objectives":
        """The same costs against another accuracy (``"test_acc"`` for reporting)."""
        return Objectives(self.costs, accuracy)

    def minimisation(self, values: np.ndarray) -> np.ndarray:
        """Columns ``[accuracy, *costs]`` turned into a matrix to minimise (accuracy negated)."""
        out = np.array(values, dtype=float, copy=True).reshape(-1, len(self.names))
        out[:, 0] = -out[:, 0]
        return out

    def __str__(self) -> str:
        return ",".join(self.names) if self.costs else "auto"


@dataclass(frozen=True)
class Constraint:
    """``metric ≤ bound`` on a cost (``Constraint.parse("latency_pixel3_ms<=5")``)."""

    metric: str
    bound: float

    @classmethod
    def parse(cls, spec: "str | Constraint") -> "Constraint":
        """Parses ``"cost<=bound"`` or ``"cost≤bound"`` (aliases allowed: ``lat_pixel3<=5``).

        Raises:
            ObjectivesError: Not of that form, an accuracy, or a bound that is not a finite number.
        """
        if isinstance(spec, Constraint):
            return spec
        match = re.fullmatch(r"\s*([A-Za-z0-9_]+)\s*(?:<=|≤)\s*([-+0-9.eE]+)\s*", str(spec))
        if not match:
            raise ObjectivesError(f"constraint {spec!r}: expected COST<=BOUND, e.g. 'latency_pixel3_ms<=5.0'")
        metric = canonical_metric(match.group(1))
        if metric in ACCURACIES:
            raise ObjectivesError(f"constraint {spec!r}: bound a cost, not an accuracy")
        try:
            bound = float(match.group(2))
        except ValueError:
            bound = math.nan
        if not math.isfinite(bound):
            raise ObjectivesError(f"constraint {spec!r}: the bound must be a finite number")
        return cls(metric, bound)

    def validate(self, target: Any) -> "Constraint":
        """Checks the cost exists (see :meth:`Objectives.validate`)."""
        metrics, where = _metrics_of(target)
        costs = cost_metrics(metrics)
        if self.metric not in costs:
            raise _unknown(self.metric, costs, f"benchmark {where}" if where else "the table ")
        return self

    def feasible(self, values: np.ndarray) -> np.ndarray:
        """Boolean mask ``values ≤ bound`` (NaN is infeasible)."""
        values = np.asarray(values, dtype=float)
        return np.nan_to_num(values, nan=np.inf) <= self.bound

    def __str__(self) -> str:
        return f"{self.metric}<={self.bound:g}"


def parse_constraints(spec: str) -> list[Constraint]:
    """``"a<=1, b<=2"`` → constraints (empty text: none)."""
    return [Constraint.parse(p) for p in str(spec).split(",") if p.strip()]


# --------------------------------------------------------------------------- fronts and hypervolume (moocore)


def non_dominated(F: np.ndarray) -> np.ndarray:
    """Row indices, in order, of the distinct non-dominated points of a matrix to **minimise**.

    A point is dominated when another is no worse in every column and
    better in one. Identical rows are kept once: the first of them.
    """
    import moocore

    F = np.asarray(F, dtype=float)
    if F.ndim != 2 or not len(F):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(moocore.is_nondominated(F, keep_weakly=False))


def pareto_ranks(F: np.ndarray) -> np.ndarray:
    """Non-dominated sorting: rank 0 for the first front, 1 for the next, … (minimisation; ties share a rank)."""
    import moocore

    F = np.asarray(F, dtype=float)
    if not len(F):
        return np.zeros(0, dtype=np.int64)
    return np.asarray(moocore.pareto_rank(F), dtype=np.int64)


def hypervolume(F: np.ndarray, reference: np.ndarray, scale: np.ndarray | None = None) -> float:
    """Hypervolume dominated by the points of a **minimisation** matrix and bounded by ``reference``.

    Points that are not strictly better than the reference in every column
    add nothing. ``scale`` divides each column first (a normalised
    hypervolume when it is ``reference − ideal``).
    """
    import moocore

    F = np.asarray(F, dtype=float).reshape(-1, len(reference))
    reference = np.asarray(reference, dtype=float)
    inside = F[np.all(F < reference, axis=1)] if len(F) else F
    if not len(inside):
        return 0.0
    if scale is not None:
        scale = np.asarray(scale, dtype=float)
        inside, reference = inside / scale, reference / scale
    return float(moocore.hypervolume(inside, ref=reference))


# --------------------------------------------------------------------------- degenerate cells


def nb201_disconnected(native: str) -> bool:
    """Whether an NB201 arch string has no path from the input (node 0) to the output (node 3) avoiding ``none``.

    Equivalent to :meth:`NB201Space.functional_key` returning ``"disconnected"``
    (tested), and much cheaper over a whole table.
    """
    from lib.spaces.nb201 import EDGES, parse_arch_str

    ops = parse_arch_str(native)
    reach = {0}
    for (src, dst), op in zip(EDGES, ops):  # EDGES are in topological order of their sources
        if op != "none" and src in reach:
            reach.add(dst)
    return 3 not in reach


@dataclass(frozen=True)
class DegenerateRule:
    """Which cells of a space are not real architectures for a multi-objective view, and why."""

    description: str
    test: Callable[[Any], bool]
    """Called with a cell's native form."""


DEGENERATE_RULES: dict[str, DegenerateRule] = {
    "nb201": DegenerateRule(
        "NB201 cells whose output has no path from the input through non-'none' edges (341 of 15,625): "
        "their output is a constant, they classify at chance (10.0 % on CIFAR-10, 1 % on CIFAR-100) and "
        "their latencies are near zero (down to 0.003 ms), so on the accuracy–cost plane they would be "
        "the cheapest 'front' points without being architectures anyone would deploy",
        nb201_disconnected,
    ),
}
"""Degenerate cells per search space (by ``space.name``), left out of every front and constrained score.

The rule is structural (it reads the cell, not its accuracy), so it also
applies to custom tables of the same space and is something a search may use
too. NB101 and NAS-Bench-Graph have no entry: their spaces only hold cells
whose output is reachable from the input.
"""


def degenerate_mask(space: Any, natives: Iterable[Any]) -> np.ndarray:
    """Boolean mask of the degenerate cells among native forms of ``space`` (all False without a rule)."""
    natives = list(natives)
    rule = DEGENERATE_RULES.get(getattr(space, "name", space))
    if rule is None:
        return np.zeros(len(natives), dtype=bool)
    return np.fromiter((rule.test(n) for n in natives), dtype=bool, count=len(natives))


def is_degenerate(space: Any, cell: Any) -> bool:
    """Whether a cell of ``space`` is degenerate (:data:`DEGENERATE_RULES`)."""
    rule = DEGENERATE_RULES.get(getattr(space, "name", space))
    return bool(rule is not None and rule.test(space.to_native(cell)))


# --------------------------------------------------------------------------- reference points and true fronts

REFERENCE_RULE = {
    "over": "the benchmark's true Pareto front: distinct non-degenerate cells of the whole table, "
            "for these objectives and this accuracy metric (validation or test)",
    "ideal": "best value of each objective on that front (= best over the non-degenerate table)",
    "nadir": "worst value of each objective on that front",
    "margin": 0.1,
    "reference": "nadir + margin × (nadir − ideal), objective by objective",
    "normalised hypervolume": "hypervolume / Π (reference − ideal): the share of the box between the "
                              "ideal and the reference point that is dominated",
}  # fmt: skip
"""How the fixed reference point of a benchmark table × objectives × accuracy metric is made.

Rationale. The reference must not depend on a run, or hypervolumes could not
be compared across methods and seeds; it must not sit at the table's extremes
either. The old choice — the table's minimum accuracy and maximum cost —
stretches the box over regions no trade-off lives in: the minimum accuracy is
an outlier (10 % for disconnected NB201 cells, −80 on a custom table), so every
run's normalised hypervolume was squeezed towards 1; and beyond the cost of
the most accurate cell only that one cell gets credit, so the hypervolume
mostly measured single-objective accuracy. The nadir of the true front bounds
exactly the region where the trade-off lives (every cell outside the box is
dominated by a front point), and the 10 % margin past it (the usual
``r = 1.1`` in normalised objective space; see Ishibuchi et al., "How to
specify a reference point in hypervolume calculation for fair performance
comparison", Evol. Comput. 26(3), 2018) lets the front's extreme points count.
It is derived once from the full table, fixed per table content: every run on
that table is scored against the same point. When a front has a single point
in some objective (ideal = nadir), the margin is taken of that metric's range
over the non-degenerate table instead (or 1.0 if that is zero too).

``python -m lib.search.multiobjective nb201:cifar10 --objectives val_acc,lat_pixel3``
prints the reference, ideal and true-front hypervolume of a benchmark.
"""


@dataclass(frozen=True)
class TrueFront:
    """The Pareto front of a whole benchmark table for some objectives, and its fixed reference point.

    Attributes:
        objectives: The objectives; ``objectives.accuracy`` is the metric
            used (``val_acc`` or ``test_acc``).
        keys: Table keys of the distinct front points, by increasing first cost.
        points: Their ``[accuracy, *costs]`` values (natural units).
        ideal: Best value per objective (natural units).
        nadir: Worst value per objective on the front.
        reference: The reference point (natural units), see :data:`REFERENCE_RULE`.
        hypervolume: The front's hypervolume, normalised (share of the box).
        hypervolume_raw: The same in the metrics' units (% × cost units).
        num_degenerate: Cells of the table left out by :data:`DEGENERATE_RULES`.
    """

    objectives: Objectives
    keys: tuple[str, ...]
    points: np.ndarray = field(repr=False)
    ideal: np.ndarray
    nadir: np.ndarray
    reference: np.ndarray
    hypervolume: float
    hypervolume_raw: float
    num_degenerate: int

    @property
    def scale(self) -> np.ndarray:
        """``|reference − ideal|`` per objective: what normalises a hypervolume."""
        return np.abs(self.reference - self.ideal)

    def minimisation_reference(self) -> np.ndarray:
        ref = self.reference.copy()
        ref[0] = -ref[0]
        return ref

    def score(self, points: np.ndarray, normalise: bool = True) -> float:
        """Hypervolume of ``[accuracy, *costs]`` points (natural units) against this front's reference."""
        F = self.objectives.minimisation(points)
        return hypervolume(F, self.minimisation_reference(), self.scale if normalise else None)


_FRONTS: dict[tuple, TrueFront] = {}
_DEGENERATE: dict[str, np.ndarray] = {}


def table_digest(bench: "Benchmark") -> str:
    """The key of the caches here: :meth:`Benchmark.content_digest`."""
    return bench.content_digest()


def table_degenerate(bench: "Benchmark") -> np.ndarray:
    """Degenerate mask over the benchmark's table rows (cached per table content)."""
    digest = table_digest(bench)
    if digest not in _DEGENERATE:
        _DEGENERATE[digest] = degenerate_mask(bench.space, bench.table["native"])
    return _DEGENERATE[digest]


def true_front(bench: "Benchmark", objectives: "Objectives | str", metric: str = VAL) -> TrueFront:
    """The benchmark's Pareto front on ``metric`` (``val_acc`` or ``test_acc``) and the costs, computed once.

    Cached per table content (:meth:`Benchmark.content_digest`), objectives and metric.

    Raises:
        ObjectivesError: Unknown costs, or ``metric`` is not an accuracy of the table.
    """
    objectives = Objectives.parse(objectives).validate(bench)
    if metric not in ACCURACIES or metric not in bench.table.columns:
        raise ObjectivesError(f"{bench.name}/{bench.dataset}: no accuracy column {metric!r} for a front")
    objectives = objectives.on(metric)
    cache_key = (table_digest(bench), objectives.names)
    if cache_key in _FRONTS:
        return _FRONTS[cache_key]
    keep = ~table_degenerate(bench)
    table = bench.table.loc[keep, list(objectives.names)]
    values = table.to_numpy(float)
    finite = np.isfinite(values).all(axis=1)
    table, values = table[finite], values[finite]
    F = objectives.minimisation(values)
    front = non_dominated(F)
    order = front[np.argsort(F[front][:, 1], kind="stable")]  # by the first cost
    points = values[order]
    ideal_min, nadir_min = F[order].min(axis=0), F[order].max(axis=0)
    span = nadir_min - ideal_min
    table_span = F.max(axis=0) - F.min(axis=0)
    span = np.where(span > 0, span, np.where(table_span > 0, table_span, 1.0))
    reference_min = nadir_min + REFERENCE_RULE["margin"] * span
    sign = np.ones(len(objectives.names))
    sign[0] = -1.0
    scale = reference_min - ideal_min
    result = TrueFront(
        objectives=objectives, keys=tuple(table.index[order]), points=points,
        ideal=ideal_min * sign, nadir=nadir_min * sign, reference=reference_min * sign,
        hypervolume=hypervolume(F[order], reference_min, scale),
        hypervolume_raw=hypervolume(F[order], reference_min), num_degenerate=int((~keep).sum()),
    )  # fmt: skip
    _FRONTS[cache_key] = result
    return result


def reference_point(bench: "Benchmark", objectives: "Objectives | str", metric: str = VAL) -> np.ndarray:
    """The fixed reference point ``[accuracy, *costs]`` of a benchmark (see :data:`REFERENCE_RULE`)."""
    return true_front(bench, objectives, metric).reference


# --------------------------------------------------------------------------- scoring runs

_RESOLVED: dict[tuple[str, str], "Benchmark"] = {}


def benchmark_of(trajectory: "Trajectory", benchmark: "Benchmark | None" = None) -> "Benchmark":
    """The benchmark a run was made on: ``benchmark`` if given, else loaded by name (once per process).

    Raises:
        ObjectivesError: The run's metadata records another table digest than
            the benchmark's (the table changed since: pass ``benchmark=``), or
            the benchmark cannot be loaded by name.
    """
    meta = trajectory.metadata
    if benchmark is None:
        pair = (str(meta.get("benchmark")), str(meta.get("dataset")))
        if pair not in _RESOLVED:
            from lib.benchmark import load_benchmark

            try:
                _RESOLVED[pair] = load_benchmark(*pair)
            except Exception as exc:
                raise ObjectivesError(f"cannot load benchmark {pair[0]}/{pair[1]} of this run ({exc}); "
                                      "pass benchmark=") from None  # fmt: skip
        benchmark = _RESOLVED[pair]
    recorded = meta.get("table_digest")
    if recorded is not None and recorded != table_digest(benchmark):
        raise ObjectivesError(
            f"the run {meta.get('method')}/seed {meta.get('seed')} was made on a table with digest {recorded}, "
            f"not on {benchmark.name}/{benchmark.dataset} as it is now ({table_digest(benchmark)}); "
            "rerun it, or pass the benchmark it was made on"
        )
    return benchmark


def _run_values(trajectory: "Trajectory", columns: Sequence[str], budget: int | None) -> np.ndarray:
    n = len(trajectory) if budget is None else min(int(budget), len(trajectory))
    out = np.full((n, len(columns)), np.nan)
    for i, record in enumerate(trajectory.records[:n]):
        for j, column in enumerate(columns):
            value = record.get(column)
            if value is not None:
                out[i, j] = float(value)
    return out


def _run_degenerate(trajectory: "Trajectory", bench: "Benchmark", budget: int | None) -> np.ndarray:
    n = len(trajectory) if budget is None else min(int(budget), len(trajectory))
    return degenerate_mask(bench.space, (r["native"] for r in trajectory.records[:n]))


def achieved_front(
    trajectory: "Trajectory",
    objectives: "Objectives | str",
    budget: int | None = None,
    *,
    benchmark: "Benchmark | None" = None,
) -> pd.DataFrame:
    """The run's Pareto front in what the search saw (validation accuracy and costs), by increasing first cost.

    Distinct points only (identical ``(val_acc, *costs)`` tuples once: the
    first queried), degenerate cells left out (:data:`DEGENERATE_RULES`).
    Rows are the trajectory's records (test accuracy included).
    """
    bench = benchmark_of(trajectory, benchmark)
    objectives = Objectives.parse(objectives).validate(bench)
    values = _run_values(trajectory, objectives.names, budget)
    ok = ~_run_degenerate(trajectory, bench, budget) & np.isfinite(values).all(axis=1)
    rows = np.flatnonzero(ok)
    front = rows[non_dominated(objectives.minimisation(values[rows]))] if len(rows) else rows
    frame = trajectory.to_frame().iloc[front]
    return frame.sort_values(list(objectives.costs), kind="stable").reset_index(drop=True)


def run_hypervolume(
    trajectory: "Trajectory",
    objectives: "Objectives | str",
    budget: int | None = None,
    *,
    metric: str = TEST,
    benchmark: "Benchmark | None" = None,
    normalise: bool = True,
) -> float:
    """Hypervolume of a run's validation front after ``budget`` queries, scored on ``metric``.

    With ``metric="test_acc"`` (the default, what the study reports) the
    points are the test accuracies of the cells on the validation front,
    against the reference point of the true test front; with ``"val_acc"``
    the front itself against the validation reference.
    """
    return float(hypervolume_curve(trajectory, objectives, budget, metric=metric, benchmark=benchmark,
                                   normalise=normalise)[-1:].sum())  # fmt: skip


def hypervolume_curve(
    trajectory: "Trajectory",
    objectives: "Objectives | str",
    budget: int | None = None,
    *,
    metric: str = TEST,
    benchmark: "Benchmark | None" = None,
    normalise: bool = True,
) -> np.ndarray:
    """:func:`run_hypervolume` after each of the first ``budget`` queries (one value per query)."""
    bench = benchmark_of(trajectory, benchmark)
    objectives = Objectives.parse(objectives).validate(bench)
    truth = true_front(bench, objectives, metric)
    seen = _run_values(trajectory, objectives.names, budget)
    shown = _run_values(trajectory, objectives.on(metric).names, budget)
    usable = ~_run_degenerate(trajectory, bench, budget) & np.isfinite(seen).all(axis=1) \
        & np.isfinite(shown).all(axis=1)  # fmt: skip
    F = objectives.minimisation(seen)
    curve = np.zeros(len(seen))
    front: list[int] = []
    current = 0.0
    for i in range(len(seen)):
        if usable[i] and not any(np.all(F[j] <= F[i]) for j in front):  # new and not (weakly) dominated
            front = [j for j in front if not np.all(F[i] <= F[j])] + [i]
            current = truth.score(shown[front], normalise)
        curve[i] = current
    return curve


def hypervolume_regret(
    trajectory: "Trajectory",
    objectives: "Objectives | str",
    budget: int | None = None,
    *,
    metric: str = TEST,
    benchmark: "Benchmark | None" = None,
) -> float:
    """True front's normalised hypervolume − the run's (:func:`run_hypervolume`), ≥ 0 on ``val_acc``."""
    bench = benchmark_of(trajectory, benchmark)
    truth = true_front(bench, objectives, metric)
    return truth.hypervolume - run_hypervolume(trajectory, objectives, budget, metric=metric, benchmark=bench)


def constrained_best(
    trajectory: "Trajectory",
    constraint: "Constraint | str",
    budget: int | None = None,
    *,
    metric: str = TEST,
    benchmark: "Benchmark | None" = None,
) -> dict[str, Any]:
    """Constrained mode: the best feasible cell by validation accuracy, and how many queries were infeasible.

    Returns:
        ``{"best": metric of the best feasible non-degenerate cell by
        val_acc (NaN if none), "infeasible_share": share of the queries
        with cost > bound, "feasible_found": bool}``.
    """
    bench = benchmark_of(trajectory, benchmark)
    constraint = Constraint.parse(constraint).validate(bench)
    values = _run_values(trajectory, [VAL, metric, constraint.metric], budget)
    if not len(values):
        return {"best": math.nan, "infeasible_share": math.nan, "feasible_found": False}
    feasible = constraint.feasible(values[:, 2])
    usable = feasible & ~_run_degenerate(trajectory, bench, budget) & np.isfinite(values[:, 0])
    best = math.nan
    if usable.any():
        rows = np.flatnonzero(usable)
        best = float(values[rows[int(np.argmax(values[rows, 0]))], 1])  # first on ties
    return {"best": best, "infeasible_share": float(1.0 - feasible.mean()), "feasible_found": bool(usable.any())}


def constrained_best_in_table(bench: "Benchmark", constraint: "Constraint | str", metric: str = TEST) -> float:
    """``metric`` of the best-by-validation feasible non-degenerate cell of the whole table (the oracle)."""
    constraint = Constraint.parse(constraint).validate(bench)
    table = bench.table[~table_degenerate(bench)]
    table = table[constraint.feasible(table[constraint.metric].to_numpy(float))]
    if table.empty:
        return math.nan
    return float(table.at[table[VAL].idxmax(), metric])


def default_bounds(bench: "Benchmark", cost: str) -> list[float]:
    """Two bounds on a cost for constrained tables: its 25th and 50th percentiles over the non-degenerate table.

    Rounded to two significant digits. A tight and a moderate bound: a
    quarter and a half of the architectures are feasible.
    """
    cost = Constraint.parse(f"{cost}<=0").validate(bench).metric
    values = bench.table.loc[~table_degenerate(bench), cost].to_numpy(float)
    return [float(f"{q:.2g}") for q in np.nanpercentile(values, [25, 50])]


def uses_objectives(meta: dict[str, Any], objectives: Objectives, bench: "Benchmark") -> bool:
    """Whether a stored run belongs to a multi-objective comparison on ``objectives``.

    Random search is objective-free, so its runs serve every objectives
    (the multi-objective random baseline); a method with an ``objectives``
    hyper-parameter counts when it resolves to the same objectives; other
    (single-objective) methods do not.
    """
    if meta.get("method") == "random":
        return True
    spec = (meta.get("hyperparameters") or {}).get("objectives")
    if spec is None:
        return False
    try:
        return Objectives.parse(spec).validate(bench) == objectives
    except ObjectivesError:
        return False


def hypervolume_table(
    trajectories: Iterable["Trajectory"],
    bench: "Benchmark",
    objectives: "Objectives | str",
    budgets: Sequence[int],
    *,
    label: Callable[[dict[str, Any]], str] = lambda meta: str(meta["method"]),
) -> pd.DataFrame:
    """One row per (run, budget): validation and test hypervolume and test hypervolume regret.

    Only runs that :func:`uses_objectives`; a budget beyond a run's length
    (or a non-anytime run's budget) is skipped.
    """
    objectives = Objectives.parse(objectives).validate(bench)
    truth = true_front(bench, objectives, TEST) if bench.has_test else None
    rows = []
    for trajectory in trajectories:
        meta = trajectory.metadata
        if not uses_objectives(meta, objectives, bench):
            continue
        hv_val = hypervolume_curve(trajectory, objectives, metric=VAL, benchmark=bench)
        hv_test = hypervolume_curve(trajectory, objectives, metric=TEST, benchmark=bench) if truth else None
        for b in budgets:
            if len(trajectory) < b or (b < trajectory.budget and not meta.get("anytime", True)):
                continue
            if b > trajectory.budget:
                continue
            row = {"method": label(meta), "seed": meta["seed"], "budget": int(b), "hv_val": hv_val[b - 1]}
            if truth is not None:
                row |= {"hv_test": hv_test[b - 1], "hv_regret_test": truth.hypervolume - hv_test[b - 1]}
            rows.append(row)
    return pd.DataFrame(rows, columns=["method", "seed", "budget", "hv_val", "hv_test", "hv_regret_test"])


def constrained_table(
    trajectories: Iterable["Trajectory"],
    bench: "Benchmark",
    constraints: Sequence["Constraint | str"],
    budgets: Sequence[int],
    *,
    objectives: "Objectives | str | None" = None,
    label: Callable[[dict[str, Any]], str] = lambda meta: str(meta["method"]),
) -> pd.DataFrame:
    """One row per (run, constraint, budget): best feasible test accuracy and share of infeasible queries.

    With ``objectives`` only runs that :func:`uses_objectives` are scored.
    """
    constraints = [Constraint.parse(c).validate(bench) for c in constraints]
    objectives = Objectives.parse(objectives).validate(bench) if objectives is not None else None
    metric = TEST if bench.has_test else VAL
    rows = []
    for trajectory in trajectories:
        meta = trajectory.metadata
        if objectives is not None and not uses_objectives(meta, objectives, bench):
            continue
        for b in budgets:
            if len(trajectory) < b or b > trajectory.budget:
                continue
            for constraint in constraints:
                found = constrained_best(trajectory, constraint, b, metric=metric, benchmark=bench)
                rows.append({"method": label(meta), "seed": meta["seed"], "budget": int(b),
                             "constraint": str(constraint), "metric": metric, **found})  # fmt: skip
    return pd.DataFrame(rows, columns=["method", "seed", "budget", "constraint", "metric", "best",
                                       "infeasible_share", "feasible_found"])  # fmt: skip


def hypervolume_curves(
    trajectories: Iterable["Trajectory"],
    bench: "Benchmark",
    objectives: "Objectives | str",
    *,
    metric: str = TEST,
    label: Callable[[dict[str, Any]], str] = lambda meta: str(meta["method"]),
) -> dict[str, np.ndarray]:
    """``{label: (runs × queries) array}`` of :func:`hypervolume_curve` for the runs that :func:`uses_objectives`.

    Each method's curves are cut to its shortest run, so every column has every run.
    """
    objectives = Objectives.parse(objectives).validate(bench)
    found: dict[str, list[np.ndarray]] = {}
    for trajectory in trajectories:
        if uses_objectives(trajectory.metadata, objectives, bench) and len(trajectory):
            curve = hypervolume_curve(trajectory, objectives, metric=metric, benchmark=bench)
            found.setdefault(label(trajectory.metadata), []).append(curve)
    return {name: np.stack([c[: min(map(len, curves))] for c in curves]) for name, curves in sorted(found.items())}


def mean_std_table(frame: pd.DataFrame, value: str, by: Sequence[str], columns: str = "budget",
                   digits: int = 3) -> pd.DataFrame:  # fmt: skip
    """``mean ± std (n)`` of ``value`` per ``by`` group, one column per value of ``columns``."""
    if frame.empty:
        return pd.DataFrame(columns=[*by])
    grouped = frame.groupby([*by, columns])[value].agg(["mean", "std", "count"]).reset_index()
    grouped["text"] = [f"{m:.{digits}f} ± {0.0 if pd.isna(s) else s:.{digits}f} (n={n})"
                       for m, s, n in zip(grouped["mean"], grouped["std"], grouped["count"])]  # fmt: skip
    table = grouped.pivot_table(index=list(by), columns=columns, values="text", aggfunc="first")
    table.columns = [f"{c} queries" if columns == "budget" else str(c) for c in table.columns]
    return table.reset_index()


def sweep_overrides(
    overrides: dict[str, dict[str, Any]],
    methods: Sequence[str],
    benchmarks: Sequence["Benchmark | tuple[str, str]"],
    *,
    objectives: str | None = None,
    constraint: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Hyper-parameter overrides of a sweep with ``--objectives`` / ``--constraint`` added.

    ``benchmarks``: the sweep's benchmarks, or its ``(name, dataset)`` pairs (loaded here).

    Each is checked against every benchmark of the sweep, written in its
    canonical form (aliases resolved, so ``lat_pixel3`` and
    ``latency_pixel3_ms`` give the same run identity) and passed to every
    method that has an ``objectives`` (``constraint``) hyper-parameter;
    methods without one (``random``, the single-objective baselines) run
    unchanged. An explicit ``--hp METHOD.objectives=...`` wins.

    Raises:
        ObjectivesError: A malformed specification or a cost some benchmark lacks.
    """
    from lib.benchmark import load_benchmark
    from lib.search.registry import default_hyperparameters

    benchmarks = [b if hasattr(b, "table") else load_benchmark(*b) for b in benchmarks]
    values: dict[str, str] = {}
    if objectives is not None:
        parsed = Objectives.parse(objectives)
        for bench in benchmarks:
            parsed.validate(bench)
        values["objectives"] = str(parsed)  # canonical names, or "auto"
    if constraint is not None and str(constraint).strip():
        parsed_constraint = Constraint.parse(constraint)
        for bench in benchmarks:
            parsed_constraint.validate(bench)
        values["constraint"] = f"{parsed_constraint.metric}<={parsed_constraint.bound!r}"
    out = {method: dict(hps) for method, hps in overrides.items()}
    for method in methods:
        takes = default_hyperparameters(method)
        for name, value in values.items():
            if name in takes:
                out.setdefault(method, {}).setdefault(name, value)
    return out


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """Prints the true fronts, reference points and default bounds of benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m lib.search.multiobjective", description=main.__doc__)
    parser.add_argument("benchmark", help="NAME or NAME:DATASET, e.g. nb201:cifar10")
    parser.add_argument("--objectives", default="auto", help="e.g. val_acc,lat_pixel3 (default: auto)")
    args = parser.parse_args(argv)
    from lib.search.harness import parse_benchmark

    bench = parse_benchmark(args.benchmark)
    try:
        objectives = Objectives.parse(args.objectives).validate(bench)
    except ObjectivesError as exc:
        parser.error(str(exc))
    print(f"{bench.name}/{bench.dataset} ({table_digest(bench)}), objectives {objectives}")
    for metric in [m for m in ACCURACIES if m in bench.table.columns]:
        truth = true_front(bench, objectives, metric)
        fmt = lambda a: "(" + ", ".join(f"{v:.4g}" for v in a) + ")"  # noqa: E731
        print(f"  on {metric}: {len(truth.keys)} distinct front points ({truth.num_degenerate} degenerate cells "
              f"left out); ideal {fmt(truth.ideal)}, nadir {fmt(truth.nadir)}, reference {fmt(truth.reference)}; "
              f"hypervolume {truth.hypervolume:.4f} of the box")  # fmt: skip
    for cost in objectives.costs:
        print(f"  default bounds on {cost}: {default_bounds(bench, cost)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
