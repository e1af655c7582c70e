"""Tables from stored runs: method labels, best accuracy at fixed budgets, regret curves, method diagnostics.

What the result notebooks compute from :class:`~lib.search.store.ResultStore`
runs, so that every notebook reads stored runs the same way:

* :func:`run_label` — a run's method name with the hyper-parameters that
  differ from the method's defaults (``agnet[surrogate:False]``);
* :func:`best_rows` — one row per (run, budget): the reported accuracy of the
  cell with the best validation accuracy within the first *b* queries (test
  accuracy where the benchmark has it, validation accuracy otherwise, and the
  ``metric`` column says which); smaller budgets come from prefixes of an
  anytime run;
* :func:`regret_stacks` — per (benchmark, dataset, method) the regret curves
  of its seeds as one array;
* :func:`method_stats_rows` — the per-run totals a method reported through
  ``run_stats()`` (``metadata["method_stats"]["totals"]``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lib.search.registry import default_hyperparameters
from lib.search.trajectory import Trajectory

BEST_COLUMNS = ["benchmark", "dataset", "method", "seed", "budget", "metric", "best"]


def run_label(meta: dict[str, Any], ignore: Sequence[str] = ()) -> str:
    """The method's name with the hyper-parameters that differ from its defaults, e.g. ``arch2vec_bo[ei:incumbent]``.

    Args:
        meta: A run's metadata (``method``, ``hyperparameters``, ``config_hash``).
        ignore: Hyper-parameters left out of the label (e.g. ``("objectives",)`` when every run has them).
    """
    try:
        defaults = default_hyperparameters(meta["method"])
    except Exception:  # a method whose module is unavailable here
        return f"{meta['method']}@{meta['config_hash'][:6]}"
    changed = {k: v for k, v in meta["hyperparameters"].items()
               if k not in ignore and defaults.get(k, object()) != v}  # fmt: skip
    return meta["method"] + ("[" + ",".join(f"{k}:{v}" for k, v in sorted(changed.items())) + "]" if changed else "")


def _by_label_and_seed(trajectories: Iterable[Trajectory], label: Callable[[dict], str],
                       methods: Iterable[str] | None) -> dict[tuple, list[Trajectory]]:  # fmt: skip
    wanted = set(methods) if methods else None
    runs: dict[tuple, list[Trajectory]] = {}
    for trajectory in trajectories:
        meta = trajectory.metadata
        name = label(meta)
        if wanted is not None and name not in wanted and meta["method"] not in wanted:
            continue
        runs.setdefault((meta["benchmark"], meta["dataset"], name, meta["seed"]), []).append(trajectory)
    return runs


def best_rows(
    trajectories: Iterable[Trajectory],
    budgets: Sequence[int],
    *,
    methods: Iterable[str] | None = None,
    label: Callable[[dict], str] = run_label,
) -> pd.DataFrame:
    """One row per (benchmark, dataset, method label, seed, budget) with the accuracy the search would return.

    A budget is taken from a run stored at exactly that budget, else from the
    prefix of the longest anytime run of the same label and seed; a budget no
    run reaches is left out (never extrapolated).

    Args:
        trajectories: Stored runs (any benchmarks and methods).
        budgets: Query budgets of the rows.
        methods: Keep only these method names or labels (``None``: all).
        label: Names a run's method (default :func:`run_label`).

    Returns:
        A frame with :data:`BEST_COLUMNS`; ``best`` is the test accuracy of the cell with the best
        validation accuracy among the first ``budget`` queries (validation accuracy where the
        benchmark has no test accuracy; ``metric`` names it).
    """
    rows = []
    for (name, dataset, method, seed), found in sorted(_by_label_and_seed(trajectories, label, methods).items()):
        largest = max(found, key=lambda t: t.budget)
        metric = "test_acc" if any(r.get("test_acc") is not None for r in largest.records) else "val_acc"
        for budget in budgets:
            exact = [t for t in found if t.budget == budget]
            anytime = largest.metadata.get("anytime") and largest.budget > budget
            source = exact[0] if exact else (largest if anytime else None)
            if source is None or len(source) < min(budget, source.budget):
                continue
            rows.append({"benchmark": name, "dataset": dataset, "method": method, "seed": seed, "budget": budget,
                         "metric": metric, "best": source.best_at(budget, metric)})  # fmt: skip
    return pd.DataFrame(rows, columns=BEST_COLUMNS)


def regret_stacks(
    trajectories: Iterable[Trajectory],
    *,
    methods: Iterable[str] | None = None,
    label: Callable[[dict], str] = run_label,
) -> dict[tuple[str, str, str], np.ndarray]:
    """``{(benchmark, dataset, method label): (seeds × queries) regret}``, each seed's longest run, cut to the shortest."""
    curves: dict[tuple[str, str, str], list[np.ndarray]] = {}
    for (name, dataset, method, _), found in sorted(_by_label_and_seed(trajectories, label, methods).items()):
        largest = max(found, key=lambda t: t.budget)
        metric = "test_acc" if any(r.get("test_acc") is not None for r in largest.records) else "val_acc"
        curves.setdefault((name, dataset, method), []).append(largest.regret(metric))
    return {key: np.stack([c[: min(len(c) for c in stack)] for c in stack]) for key, stack in curves.items()}


def method_stats_rows(
    trajectories: Iterable[Trajectory],
    *,
    methods: Iterable[str] | None = None,
    label: Callable[[dict], str] = run_label,
) -> pd.DataFrame:
    """One row per run that reported ``method_stats`` totals: benchmark, dataset, method, seed, budget and each total.

    A run cut from a larger stored run (:meth:`Trajectory.prefix`) carries the larger run's totals: its
    ``budget`` column is then the larger run's budget, which the totals describe.
    """
    rows = []
    for (name, dataset, method, seed), found in sorted(_by_label_and_seed(trajectories, label, methods).items()):
        for trajectory in found:
            totals = ((trajectory.metadata.get("method_stats") or {}).get("totals")) or {}
            if totals:
                rows.append({"benchmark": name, "dataset": dataset, "method": method, "seed": seed,
                             "budget": trajectory.metadata.get("derived_from_budget", trajectory.budget),
                             **totals})  # fmt: skip
    return pd.DataFrame(rows)


def mean_std_text(mean: float, std: float, digits: int = 2) -> str:
    """``"93.82 ± 0.34"`` (a missing std, from one seed, prints as 0)."""
    return f"{mean:.{digits}f} ± {0.0 if pd.isna(std) else std:.{digits}f}"


def best_table(rows: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """:func:`best_rows` as ``mean ± std`` per (benchmark, dataset, method, metric), one column per budget, plus ``seeds``."""
    keys = ["benchmark", "dataset", "method", "metric"]
    if rows.empty:
        return pd.DataFrame(columns=[*keys, "seeds"])
    summary = rows.groupby([*keys, "budget"])["best"].agg(mean="mean", std="std", seeds="count").reset_index()
    summary["text"] = [mean_std_text(m, s, digits) for m, s in zip(summary["mean"], summary["std"])]
    table = summary.pivot_table(index=keys, columns="budget", values="text", aggfunc="first")
    table.columns = [f"{b} queries" for b in table.columns]
    table["seeds"] = summary.groupby(keys)["seeds"].min()
    return table.reset_index()
