"""lib.agnet.study: notebook 05's study tables select the right stored runs and score them as the harness does."""

from __future__ import annotations

import numpy as np
import pytest

from lib.benchmark import load_benchmark
from lib.config import ParameterError
from lib.search import run_search
from lib.search.multiobjective import constrained_best, default_bounds, run_hypervolume
from lib.search.store import ResultStore

from lib.agnet.study import constrained_rows, joint_rows, parse_study_mo, single_objective_runs


@pytest.fixture(scope="module")
def cora():
    return load_benchmark("nbgraph", "cora")


@pytest.fixture(scope="module")
def store(cora, tmp_path_factory):
    store = ResultStore(tmp_path_factory.mktemp("runs"))
    low, high = default_bounds(cora, "latency_ms")
    for seed in range(2):
        store.put(run_search(cora, "random", 40, seed))
        store.put(run_search(cora, "evolution", 40, seed))
        store.put(run_search(cora, "nsga2", 40, seed, objectives="val_acc,latency_ms"))
        store.put(run_search(cora, "nsga2", 40, seed, objectives="val_acc,params_M"))
        store.put(run_search(cora, "nsga2", 40, seed, constraint=f"latency_ms<={low}"))
    store.put(run_search(cora, "nsga2", 40, 0, constraint=f"latency_ms<={high}"))
    return store


def test_a_weighted_nao_run_counts_as_a_joint_run_on_its_complexity(cora):
    from lib.agnet.study import as_joint
    from lib.search.trajectory import Trajectory

    base = run_search(cora, "random", 10, 0)
    as_nao = lambda lam: Trajectory({**base.metadata, "method": "nao_gvae",  # noqa: E731
                                     "hyperparameters": {"lam": lam, "complexity": "latency_ms"}}, base.records)
    assert as_joint(as_nao(0.5)).metadata["hyperparameters"]["objectives"] == "val_acc,latency_ms"
    assert "objectives" not in as_joint(as_nao(0.0)).metadata["hyperparameters"]  # λ = 0 is single-objective
    assert as_joint(base) is base


def test_parse_study_mo_names_columns_and_rejects_unknown_devices():
    assert parse_study_mo("nbgraph:cora@latency") == {("nbgraph", "cora"): ("latency_ms",)}
    assert parse_study_mo("nbgraph:cora=latency_ms") == {("nbgraph", "cora"): ("latency_ms",)}
    assert parse_study_mo("") == {}
    with pytest.raises(ParameterError, match="latency columns are"):
        parse_study_mo("nbgraph:cora@pixel3")
    with pytest.raises(ValueError, match="BENCHMARK:DATASET@DEVICE"):
        parse_study_mo("nbgraph:cora")


def test_single_objective_runs_leave_out_joint_and_constrained_runs(store):
    runs = single_objective_runs(store.load_all("nbgraph", "cora"))
    assert sorted({t.metadata["method"] for t in runs}) == ["evolution", "random"] and len(runs) == 4


def test_joint_rows_score_only_runs_on_those_objectives(store, cora):
    rows, fronts = joint_rows(store, {("nbgraph", "cora"): ("latency_ms",)}, [20, 40])
    assert set(rows["method"]) == {"random", "nsga2"}  # the params_M and constrained nsga2 runs are not scored here
    assert len(rows) == 2 * 2 * 2  # methods x seeds x budgets
    latency_runs = [t for t in store.load_all("nbgraph", "cora") if t.metadata["method"] == "nsga2"
                    and t.metadata["hyperparameters"].get("objectives") == "val_acc,latency_ms"]
    mine = rows[(rows["method"] == "nsga2") & (rows["budget"] == 40)].sort_values("seed")["hv_test"].to_numpy()
    expected = [run_hypervolume(t, "val_acc,latency_ms", 40, benchmark=cora)
                for t in sorted(latency_runs, key=lambda t: t.metadata["seed"])]  # fmt: skip
    assert np.allclose(mine, expected)
    truth, achieved = fronts[("nbgraph", "cora", "val_acc,latency_ms")]
    assert set(achieved) == {"random", "nsga2"} and len(truth) > 1
    assert (rows["method"] == "nsga2").sum() == 2 * 2  # the high-bound constrained run is not a joint run
    assert truth["latency_ms"].is_monotonic_increasing


def test_constrained_rows_score_a_run_only_against_its_own_bound(store, cora):
    low, high = default_bounds(cora, "latency_ms")
    rows = constrained_rows(store, {("nbgraph", "cora"): ("latency_ms",)}, [40])
    assert set(rows["constraint"]) == {f"latency_ms<={low:g}", f"latency_ms<={high:g}"}  # every bound with runs
    per_bound = rows.groupby(["constraint", "method"]).size().to_dict()
    assert per_bound == {(f"latency_ms<={low:g}", "nsga2"): 2, (f"latency_ms<={low:g}", "random"): 2,
                         (f"latency_ms<={high:g}", "nsga2"): 1, (f"latency_ms<={high:g}", "random"): 2}
    rows = rows[rows["constraint"] == f"latency_ms<={low:g}"]
    run = next(t for t in store.load_all("nbgraph", "cora") if t.metadata["hyperparameters"].get("constraint")
               and t.metadata["seed"] == 1)  # fmt: skip
    found = constrained_best(run, f"latency_ms<={low}", 40, benchmark=cora)
    row = rows[(rows["method"] == "nsga2") & (rows["seed"] == 1)].iloc[0]
    assert row["best"] == pytest.approx(found["best"]) and row["infeasible_share"] == pytest.approx(found["infeasible_share"])


def test_comparison_rows_pair_runs_per_objectives_and_bound(store, cora):
    from lib.agnet.study import comparison_rows
    from lib.search.compare import paired_comparisons

    rows, _ = joint_rows(store, {("nbgraph", "cora"): ("latency_ms", "params_M")}, [40])
    long = comparison_rows(rows, "hv_test", "objectives")
    assert set(long["dataset"]) == {"cora | val_acc,latency_ms", "cora | val_acc,params_M"}
    table = paired_comparisons(long, [("nsga2", "random")])
    assert len(table) == 2 and (table["seeds"] == 2).all()  # one comparison per objectives, paired by seed
    mine = long[(long["dataset"] == "cora | val_acc,latency_ms")].pivot(index="seed", columns="method", values="best")
    assert table.set_index("dataset").loc["cora | val_acc,latency_ms", "mean_difference"] == pytest.approx(
        (mine["nsga2"] - mine["random"]).mean())


def test_joint_curves_end_where_the_table_does(store):
    from lib.agnet.study import joint_curves

    curves = joint_curves(store, {("nbgraph", "cora"): ("latency_ms",)})[("nbgraph", "cora", "val_acc,latency_ms")]
    rows, _ = joint_rows(store, {("nbgraph", "cora"): ("latency_ms",)}, [40])
    assert set(curves) == {"nsga2", "random"} and curves["nsga2"].shape == (2, 40)
    table = rows[rows["method"] == "nsga2"].sort_values("seed")["hv_test"].to_numpy()
    assert np.allclose(np.sort(curves["nsga2"][:, -1]), np.sort(table))
    # scored with test accuracies, a curve may dip (the front is chosen on validation accuracy), but stays a share
    assert ((curves["random"] >= 0) & (curves["random"] <= 1)).all()

