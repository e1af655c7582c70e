"""Notebook 05's study section: AG-Net's tables from stored sweep runs (single objective, joint, constrained).

Nothing here searches: it selects stored runs (:class:`~lib.search.store.ResultStore`)
and scores them with :mod:`lib.search.report` and :mod:`lib.search.multiobjective`.

* :func:`parse_study_mo` — ``"nb201:cifar10@raspi4,pixel3;nbgraph:cora@latency"``
  → the latency column of each named device, checked against the benchmark;
* :func:`single_objective_runs` — runs searched on validation accuracy alone
  (neither ``objectives`` nor ``constraint`` set);
* :func:`joint_rows` — hypervolume per (run, budget) of the joint runs
  (``objectives=val_acc,COST``; ``nao_gvae`` with a ``lam > 0`` on ``COST``)
  and random search, with seed 0's achieved fronts beside the table's true front;
* :func:`constrained_rows` — for the two default bounds per cost, the best
  feasible test accuracy and the share of infeasible queries of the runs
  constrained to exactly that bound, and of random search.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import pandas as pd

from lib.benchmark import TEST, VAL, load_benchmark
from lib.config import ParameterError
from lib.errors import DataMissingError
from lib.search.multiobjective import (Constraint, Objectives, ObjectivesError, achieved_front, constrained_table,
                                       cost_metrics, default_bounds, hypervolume_curves, hypervolume_table,
                                       true_front)  # fmt: skip
from lib.search.report import run_label
from lib.search.store import ResultStore
from lib.search.trajectory import Trajectory
from lib.sweep import parse_benchmarks


def device_column(bench, device: str) -> str:
    """The latency column of ``device`` on ``bench``: ``latency_<device>_ms``, ``<device>_ms`` or the name itself.

    Raises:
        ParameterError: No such column; the message lists the benchmark's latency columns.
    """
    costs = cost_metrics(bench.metrics)
    for name in (f"latency_{device}_ms", f"{device}_ms", device):
        if name in costs:
            return name
    latencies = [c for c in costs if c.startswith("latency")]
    raise ParameterError(f"{bench.name}/{bench.dataset} has no latency column for device {device!r}; "
                         f"its latency columns are {latencies}")  # fmt: skip


def parse_study_mo(spec: str) -> dict[tuple[str, str], tuple[str, ...]]:
    """``"BENCH:DATASET@DEV,DEV;..."`` → ``{(bench, dataset): (latency column, ...)}`` (empty text: none).

    ``@`` separates the benchmark from its devices (``=`` is accepted too, but a notebook parameter's
    default cannot contain ``=``: papermill would not parse the line).

    A benchmark whose data is not on this machine is left out with a warning.

    Raises:
        ValueError: A part without ``=`` or devices, an unknown benchmark, or a device the benchmark lacks.
    """
    out: dict[tuple[str, str], tuple[str, ...]] = {}
    for part in [p.strip() for p in str(spec).split(";") if p.strip()]:
        where, _, devices = part.replace("=", "@", 1).partition("@")
        names = [d.strip() for d in devices.split(",") if d.strip()]
        if not where.strip() or not names:
            raise ValueError(f"{part!r}: write BENCHMARK:DATASET@DEVICE[,DEVICE], e.g. nb201:cifar10@pixel3,raspi4")
        pairs = parse_benchmarks(where.strip())
        if len(pairs) != 1:
            raise ValueError(f"{part!r}: name one benchmark and dataset before '='")
        try:
            bench = load_benchmark(*pairs[0])
        except DataMissingError as exc:  # e.g. NB201 without ../shared/data: the other benchmarks still run
            warnings.warn(f"study_mo: {where.strip()} is left out: {exc}", stacklevel=2)
            continue
        out[pairs[0]] = tuple(device_column(bench, d) for d in names)
    return out


def single_objective_runs(runs: Iterable[Trajectory]) -> list[Trajectory]:
    """The runs that searched on validation accuracy alone (no ``objectives``, no ``constraint``, no NAO ``lam > 0``)."""
    def hp(t: Trajectory) -> dict:
        return as_joint(t).metadata.get("hyperparameters") or {}

    return [t for t in runs if not hp(t).get("objectives") and not hp(t).get("constraint")]


def _joint_label(meta: dict) -> str:
    return run_label(meta, ignore=("objectives", "complexity"))


def as_joint(trajectory: Trajectory) -> Trajectory:
    """A ``nao_gvae`` run with ``lam > 0`` as the joint search it is, on ``val_acc`` and its ``complexity`` column.

    NAO trades predicted accuracy against predicted complexity with one weight ``lam`` instead of taking
    ``objectives``; its queried cells are scored like every joint run's (their front's hypervolume). Other
    runs are returned unchanged.
    """
    meta = trajectory.metadata
    hp = meta.get("hyperparameters") or {}
    if meta.get("method") != "nao_gvae" or not float(hp.get("lam") or 0) > 0 or hp.get("objectives"):
        return trajectory
    joint = {**meta, "hyperparameters": {**hp, "objectives": f"{VAL},{hp['complexity']}"}}
    return Trajectory(joint, trajectory.records)


def _front_points(truth, bench) -> pd.DataFrame:
    frame = pd.DataFrame(truth.points, columns=list(truth.objectives.names))
    frame.insert(0, "key", list(truth.keys))
    return frame


def joint_rows(store: ResultStore, spec: dict[tuple[str, str], Sequence[str]], budgets: Sequence[int]):
    """Hypervolume rows of the joint runs and random search, and seed 0's fronts, per benchmark and cost.

    Constrained runs are left out even where their ``objectives`` match (NSGA-II's default ``"auto"`` does);
    ``nao_gvae`` runs with ``lam > 0`` count for ``val_acc`` and their ``complexity`` (:func:`as_joint`).

    Returns:
        ``(rows, fronts)``: ``rows`` has the columns of
        :func:`~lib.search.multiobjective.hypervolume_table` plus ``benchmark``, ``dataset`` and
        ``objectives``; ``fronts`` maps ``(benchmark, dataset, objectives)`` to ``(true test front,
        {method: achieved front of its seed-0 run at its largest budget})`` as frames with the
        objectives' columns.
    """
    rows, fronts = [], {}
    for (name, dataset), costs in spec.items():
        bench = load_benchmark(name, dataset)
        runs = [as_joint(t) for t in store.load_all(name, dataset)
                if not (t.metadata.get("hyperparameters") or {}).get("constraint")]
        accuracy = TEST if bench.has_test else VAL
        for cost in costs:
            objectives = Objectives.parse(f"{VAL},{cost}").validate(bench)
            table = hypervolume_table(runs, bench, objectives, budgets, label=_joint_label)
            if table.empty:
                continue
            rows.append(table.assign(benchmark=name, dataset=dataset, objectives=str(objectives)))
            truth = true_front(bench, objectives, accuracy)
            truth_frame = _front_points(truth, bench).rename(columns={VAL: accuracy})
            achieved = {}
            for t in runs:
                meta = t.metadata
                label = _joint_label(meta)
                if meta["seed"] != 0 or label in achieved or label not in set(table["method"]):
                    continue
                if meta["method"] != "random" and str(meta["hyperparameters"].get("objectives")) != str(objectives):
                    continue
                achieved[label] = achieved_front(t, objectives, benchmark=bench)
            fronts[(name, dataset, str(objectives))] = (truth_frame, achieved)
    frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return frame, fronts


def joint_curves(store: ResultStore, spec: dict[tuple[str, str], Sequence[str]]) -> dict[tuple[str, str, str], dict]:
    """Hypervolume against queries: ``{(benchmark, dataset, objectives): {method: (runs × queries) array}}``.

    The same runs as :func:`joint_rows` (joint runs, ``nao_gvae`` with ``lam > 0``, random search), scored
    with test accuracies where the benchmark has them, each method cut to its shortest run.
    """
    out = {}
    for (name, dataset), costs in spec.items():
        bench = load_benchmark(name, dataset)
        runs = [as_joint(t) for t in store.load_all(name, dataset)
                if not (t.metadata.get("hyperparameters") or {}).get("constraint")]
        for cost in costs:
            objectives = Objectives.parse(f"{VAL},{cost}").validate(bench)
            curves = hypervolume_curves(runs, bench, objectives, metric=TEST if bench.has_test else VAL,
                                        label=_joint_label)  # fmt: skip
            if curves:
                out[(name, dataset, str(objectives))] = curves
    return out


def _constraint_of(meta: dict, bench) -> str | None:
    spec = (meta.get("hyperparameters") or {}).get("constraint")
    if not spec:
        return None
    try:
        return str(Constraint.parse(spec).validate(bench))
    except ObjectivesError:
        return None


def constrained_rows(store: ResultStore, spec: dict[tuple[str, str], Sequence[str]],
                     budgets: Sequence[int]) -> pd.DataFrame:  # fmt: skip
    """Best feasible accuracy and infeasible share per (run, bound, budget) for the default bounds of each cost.

    A constrained run is scored only against its own bound; random search (objective-free) against every bound.
    Columns: those of :func:`~lib.search.multiobjective.constrained_table` plus ``benchmark`` and ``dataset``.
    """
    rows = []
    for (name, dataset), costs in spec.items():
        bench = load_benchmark(name, dataset)
        runs = list(store.load_all(name, dataset))  # read once, scored for every bound
        for cost in costs:
            for bound in default_bounds(bench, cost):
                constraint = Constraint(cost, bound).validate(bench)
                chosen = [t for t in runs if t.metadata["method"] == "random"
                          or _constraint_of(t.metadata, bench) == str(constraint)]  # fmt: skip
                if not any(t.metadata["method"] != "random" for t in chosen):
                    continue
                table = constrained_table(chosen, bench, [constraint], budgets,
                                          label=lambda meta: run_label(meta, ignore=("constraint",)))  # fmt: skip
                rows.append(table.assign(benchmark=name, dataset=dataset))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def comparison_rows(frame: pd.DataFrame, value: str, context: str) -> pd.DataFrame:
    """Multi-objective rows in the long form :func:`lib.search.compare.paired_comparisons` takes.

    ``value`` (e.g. ``hv_test`` or ``best``) becomes ``best``, and the ``context`` column (``objectives``
    or ``constraint``) joins the dataset name (``cifar10 | val_acc,latency_pixel3_ms``), so each
    objectives or bound is its own comparison; rows without a value (no feasible cell found) are dropped.
    """
    rows = frame.dropna(subset=[value])
    return pd.DataFrame({"benchmark": rows["benchmark"], "dataset": rows["dataset"] + " | " + rows[context].astype(str),
                         "budget": rows["budget"], "method": rows["method"], "seed": rows["seed"],
                         "best": rows[value]}).reset_index(drop=True)  # fmt: skip

