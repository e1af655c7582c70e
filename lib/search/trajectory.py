"""What a search run leaves behind: one record per distinct queried architecture.

A :class:`Trajectory` holds, for each query in order, the architecture's key
and native form, its validation and test accuracy (the test accuracy read by
the harness, never seen by the method), its cost metrics and the wall time
since the search started, plus the run's metadata. From it come best-so-far
curves, regret, Pareto fronts and hypervolume. It is saved as JSON (no
pickle), written atomically.

Because the baselines are *anytime* (their first ``b`` queries do not depend on
the budget), a run at budget 200 also gives the runs at 50, 100 and 150:
:meth:`Trajectory.prefix`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lib.results import atomic_write_text

FORMAT = "latent-nas-trajectory"
FORMAT_VERSION = 1
BASE_COLUMNS = ("step", "key", "native", "val_acc", "test_acc", "wall_time_s")


@dataclass
class Trajectory:
    """The record of one search run.

    Attributes:
        metadata: ``benchmark``, ``dataset``, ``method``, ``hyperparameters``,
            ``budget``, ``seed``, ``config_hash``, ``code_version``,
            ``oracle`` (best values of the table, for regret), ``cost_bounds``
            (``{metric: [min, max]}`` over the table; hypervolumes use the fixed
            reference points of :mod:`lib.search.multiobjective` instead) and
            run facts (``num_calls``, ``total_wall_time_s``, ``torch_threads``: the
            torch thread count the run searched with, ``created_utc``).
        records: One dict per distinct query, in order, with the
            :data:`BASE_COLUMNS` and the cost metrics.
    """

    metadata: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def budget(self) -> int:
        return int(self.metadata["budget"])

    @property
    def keys(self) -> list[str]:
        return [r["key"] for r in self.records]

    @property
    def cost_metrics(self) -> list[str]:
        found: dict[str, None] = {}
        for record in self.records:
            found.update({k: None for k in record if k not in BASE_COLUMNS})
        return list(found)

    def to_frame(self) -> pd.DataFrame:
        """One row per query with the base columns first, then the cost metrics."""
        columns = [*BASE_COLUMNS, *self.cost_metrics]
        frame = pd.DataFrame.from_records(self.records, columns=columns)
        return frame.astype({"val_acc": float, "test_acc": float, "wall_time_s": float})

    def _values(self, metric: str) -> np.ndarray:
        values = np.array([np.nan if r.get(metric) is None else r[metric] for r in self.records], dtype=float)
        if len(values) and np.isnan(values).all():
            hint = " (NB101's table has no test accuracy: use metric='val_acc')" if metric == "test_acc" else ""
            raise ValueError(f"this trajectory has no {metric!r} values{hint}")
        return values

    def best_so_far(self, metric: str = "test_acc", by: str = "val_acc", budget: int | None = None) -> np.ndarray:
        """``metric`` of the best architecture by ``by`` among the first ``i`` queries, for i = 1..n.

        With the defaults this is the test accuracy of the architecture a
        search would return (the best by validation) after each query. Ties on
        ``by`` keep the earlier architecture.
        """
        n = len(self) if budget is None else min(budget, len(self))
        score = self._values(by)[:n]
        value = self._values(metric)[:n] if metric != by else score
        out = np.empty(n)
        best = -math.inf
        current = np.nan
        for i in range(n):
            if score[i] > best:
                best, current = score[i], value[i]
            out[i] = current
        return out

    def best_at(self, budget: int, metric: str = "test_acc", by: str = "val_acc") -> float:
        """:meth:`best_so_far` after ``budget`` queries (the last value if the run is shorter)."""
        curve = self.best_so_far(metric, by, budget)
        return float(curve[-1]) if len(curve) else math.nan

    def regret(
        self, metric: str = "test_acc", by: str = "val_acc", reference: float | None = None, budget: int | None = None
    ) -> np.ndarray:
        """``reference − best_so_far`` per query.

        The default reference is the best ``metric`` in the whole table
        (``best_test_acc`` or ``best_val_acc`` of the oracle), so regret is ≥ 0
        and 0 means the search found the best architecture there is.
        """
        if reference is None:
            oracle = self.metadata.get("oracle", {})
            name = {"test_acc": "best_test_acc", "val_acc": "best_val_acc"}.get(metric)
            if name not in oracle:
                raise ValueError(f"no oracle value for {metric!r} in the metadata; pass reference=")
            reference = oracle[name]
        return float(reference) - self.best_so_far(metric, by, budget)

    def prefix(self, budget: int) -> "Trajectory":
        """The run cut after ``budget`` queries, as a run at that budget.

        Valid for anytime methods (``metadata["anytime"]``), whose first
        queries do not depend on the budget. The metadata that describes the
        whole search (``method_stats``, ``wall_time_s``) stays that of the
        larger run, whose budget is kept as ``derived_from_budget``.

        Raises:
            ValueError: ``budget`` exceeds the run's budget, or the method is not anytime.
        """
        if budget > self.budget:
            raise ValueError(f"cannot derive budget {budget} from a run at budget {self.budget}")
        if budget < self.budget and not self.metadata.get("anytime", True):
            method = self.metadata.get("method")
            raise ValueError(f"{method} is not anytime: its runs cannot be cut to a smaller budget")
        meta = {**self.metadata, "budget": int(budget)}
        if budget != self.budget:
            meta["derived_from_budget"] = self.budget
        return Trajectory(meta, [dict(r) for r in self.records[:budget]])

    def pareto_front(
        self,
        cost: str | Sequence[str] = "latency_ms",
        metric: str = "val_acc",
        budget: int | None = None,
        *,
        benchmark: Any = None,
    ) -> pd.DataFrame:
        """Queried architectures not dominated in (maximise ``metric``, minimise every ``cost``), by first cost.

        A set of distinct points (identical metric tuples once: the first
        queried), without the space's degenerate cells; see
        :func:`lib.search.multiobjective.achieved_front`. ``benchmark``: the
        run's benchmark (default: loaded by the name in the metadata).
        """
        from lib.search.multiobjective import Objectives, achieved_front

        objectives = Objectives((cost,) if isinstance(cost, str) else tuple(cost), metric)
        return achieved_front(self, objectives, budget, benchmark=benchmark)

    def hypervolume(
        self,
        cost: str | Sequence[str] = "latency_ms",
        metric: str = "val_acc",
        budget: int | None = None,
        reference: Sequence[float] | None = None,
        normalise: bool = True,
        *,
        benchmark: Any = None,
    ) -> float:
        """Hypervolume of the run's validation front in (``metric`` up, every ``cost`` down).

        With ``metric="val_acc"`` it is the front's own hypervolume; with
        ``"test_acc"`` that of its cells' test accuracies (what the study
        reports). See :func:`lib.search.multiobjective.run_hypervolume`.

        Args:
            reference: ``(worst metric, worst cost, …)``; default: the
                benchmark's fixed reference point
                (:data:`lib.search.multiobjective.REFERENCE_RULE`), the same
                for every run on that table.
            normalise: Divide by the volume of the box between the true
                front's ideal point and the reference, so the true front
                scores just under 1 and every run is comparable.
            benchmark: The run's benchmark (default: loaded by the name in the metadata).
        """
        from lib.search import multiobjective as mo

        costs = (cost,) if isinstance(cost, str) else tuple(cost)
        objectives = mo.Objectives(costs)
        if reference is None:
            return mo.run_hypervolume(self, objectives, budget, metric=metric, benchmark=benchmark,
                                      normalise=normalise)  # fmt: skip
        bench = mo.benchmark_of(self, benchmark)
        front = mo.achieved_front(self, objectives, budget, benchmark=bench)
        points = front[[metric, *costs]].to_numpy(float)
        truth = mo.true_front(bench, objectives, metric)
        reference = np.asarray(reference, dtype=float)
        scale = np.abs(reference - truth.ideal) if normalise else None
        minimised = reference.copy()
        minimised[0] = -minimised[0]
        return mo.hypervolume(objectives.on(metric).minimisation(points), minimised, scale)

    # ------------------------------------------------------------------ storage

    def to_dict(self) -> dict[str, Any]:
        """Column-oriented JSON-ready form."""
        columns = [*BASE_COLUMNS, *self.cost_metrics]
        data = {c: [json_scalar(r.get(c)) for r in self.records] for c in columns}
        return {"format": FORMAT, "version": FORMAT_VERSION, "metadata": self.metadata, "columns": columns,
                "data": data}  # fmt: skip

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "Trajectory":
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: The object is not a saved trajectory of a known version.
        """
        if obj.get("format") != FORMAT or obj.get("version") != FORMAT_VERSION:
            raise ValueError(f"not a {FORMAT} v{FORMAT_VERSION} object (format={obj.get('format')!r})")
        columns, data = obj["columns"], obj["data"]
        n = len(data["step"]) if "step" in data else 0
        records = [{c: data[c][i] for c in columns} for i in range(n)]
        return cls(dict(obj["metadata"]), records)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=False, allow_nan=False, separators=(",", ":"))

    def save(self, path: str | Path) -> Path:
        """Writes the trajectory as JSON through a temporary file and an atomic rename."""
        path = Path(path)
        atomic_write_text(path, self.to_json() + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Trajectory":
        """Reads a trajectory written by :meth:`save`."""
        with open(path, encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))

    def same_queries(self, other: "Trajectory") -> bool:
        """Whether both runs queried the same architectures with the same results (wall times aside)."""
        strip = lambda t: [{k: v for k, v in r.items() if k != "wall_time_s"} for r in t.records]  # noqa: E731
        return strip(self) == strip(other)

    def __repr__(self) -> str:
        m = self.metadata
        return (
            f"Trajectory({m.get('benchmark')}/{m.get('dataset')}, {m.get('method')}, budget={m.get('budget')}, "
            f"seed={m.get('seed')}, {len(self)} queries)"
        )


def json_scalar(value: Any) -> Any:
    """A table value as plain JSON: numpy scalars become Python numbers, NaN and infinities ``None``."""
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def pareto_mask(maximise: np.ndarray, minimise: np.ndarray) -> np.ndarray:
    """Boolean mask of the distinct points not dominated in (``maximise`` up, ``minimise`` down).

    A point is dominated when another is at least as good on both objectives
    and better on one. Identical points are kept once (the first): a front is
    a set (:func:`lib.search.multiobjective.non_dominated`, moocore).
    """
    from lib.search.multiobjective import non_dominated

    up = np.asarray(maximise, dtype=float)
    down = np.asarray(minimise, dtype=float)
    keep = np.zeros(len(up), dtype=bool)
    keep[non_dominated(np.column_stack([-up, down]))] = True
    return keep


def hypervolume_2d(
    maximise: np.ndarray,
    minimise: np.ndarray,
    reference: tuple[float, float],
    scale: tuple[float, float] = (1.0, 1.0),
) -> float:
    """Area dominated by the points and bounded by ``reference = (worst up, worst down)``.

    Points that do not beat the reference on both objectives add nothing.
    ``scale`` divides the two axes (for a normalised hypervolume). Computed
    by :func:`lib.search.multiobjective.hypervolume` (moocore).
    """
    from lib.search.multiobjective import hypervolume

    up = np.asarray(maximise, dtype=float)
    down = np.asarray(minimise, dtype=float)
    F = np.column_stack([-up, down])
    return hypervolume(F, np.array([-reference[0], reference[1]]), np.asarray(scale, dtype=float))
