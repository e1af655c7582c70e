"""Multi-objective search: fronts, hypervolume, reference points, degenerate cells, NSGA-II.

Hand-computed examples give exact values; the small NB201 table below has a
duplicate point, a dominated cell and a disconnected cell at near-zero
latency, the cases that broke the old 2-D code (fronts listing duplicates,
degenerate cells on the front, a reference at the table's minimum accuracy).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import needs_nb201
from lib.benchmark import TEST, VAL, Benchmark, load_benchmark
from lib.search import run_search
from lib.search import multiobjective as mo
from lib.search.multiobjective import Constraint, Objectives, ObjectivesError
from lib.search.trajectory import Trajectory, hypervolume_2d, pareto_mask
from lib.spaces import NB201Space
from lib.spaces.nb201 import format_arch_str

# --------------------------------------------------------------------------- moocore: sorting and hypervolume


def test_non_dominated_keeps_distinct_points_once():
    F = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [2.0, 2.0], [3.0, 3.0], [1.0, 3.0]])
    assert mo.non_dominated(F).tolist() == [0, 1, 2]  # the repeats (rows 3, 5) and the dominated (4) go
    assert mo.pareto_ranks(F).tolist() == [0, 0, 0, 0, 1, 0]


def test_pareto_mask_is_a_set():
    acc = np.array([90.0, 92.0, 91.0, 92.0, 89.0, 92.0])
    cost = np.array([1.0, 3.0, 3.0, 2.0, 0.5, 2.0])  # the last point repeats the fourth
    assert pareto_mask(acc, cost).tolist() == [True, False, False, True, True, False]


def test_hypervolume_exact_in_two_and_three_dimensions():
    # 2-D, minimisation: (1, 3), (2, 2), (3, 1) against (4, 4): 3 + 2 + 1 = 6
    assert mo.hypervolume(np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]]), np.array([4.0, 4.0])) == pytest.approx(6.0)
    # 3-D: boxes [0,2]×[0,2]×[1,2] (4) and [1,2]×[0,2]×[0,2] (4) overlap in [1,2]×[0,2]×[1,2] (2): 6
    F3 = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    assert mo.hypervolume(F3, np.array([2.0, 2.0, 2.0])) == pytest.approx(6.0)
    assert mo.hypervolume(F3, np.array([2.0, 2.0, 2.0]), scale=np.array([2.0, 2.0, 2.0])) == pytest.approx(0.75)
    assert mo.hypervolume(np.array([[5.0, 0.0]]), np.array([4.0, 4.0])) == 0.0  # beyond the reference
    # the legacy 2-D helper (accuracy up, cost down) goes through the same code
    assert hypervolume_2d([2.0, 3.0], [1.0, 2.0], (0.0, 4.0)) == pytest.approx(8.0)


# --------------------------------------------------------------------------- objectives and constraints


def test_objectives_parse_aliases_and_refuse_bad_specs(cora):
    assert Objectives.parse("val_acc,lat_pixel3").costs == ("latency_pixel3_ms",)
    assert Objectives.parse("params,lat").names == ("val_acc", "params_M", "latency_ms")
    assert str(Objectives.parse("val_acc,latency_ms")) == "val_acc,latency_ms"
    assert Objectives.parse("auto").validate(cora).costs == ("latency_ms",)
    for bad, message in [("", "empty"), ("val_acc,test_acc", "never sees test"), ("val_acc", "no cost"),
                         ("lat,latency_ms", "repeat")]:  # fmt: skip
        with pytest.raises(ObjectivesError, match=message):
            Objectives.parse(bad)
    with pytest.raises(ObjectivesError, match=r"no cost metric 'latency_pixel3_ms'.*Its costs: latency_ms, params_M"):
        Objectives.parse("lat_pixel3").validate(cora)


def test_constraints_parse():
    assert Constraint.parse("lat_pixel3<=5") == Constraint("latency_pixel3_ms", 5.0) == Constraint.parse("lat_pixel3≤5")
    assert Constraint("latency_ms", 2.0).feasible(np.array([1.0, 2.0, 3.0, np.nan])).tolist() == [True, True, False, False]
    for bad in ("latency_ms<5", "val_acc<=90", "latency_ms<=inf"):
        with pytest.raises(ObjectivesError):
            Constraint.parse(bad)


# --------------------------------------------------------------------------- a small table with every awkward case

ROWS = {  # name: (edge operations, val, test, latency)
    "A": (["nor_conv_3x3"] * 6, 90.0, 91.0, 5.0),
    "B": (["skip_connect"] * 6, 80.0, 82.0, 2.0),
    "C": (["avg_pool_3x3"] * 6, 70.0, 75.0, 1.0),
    "D": (["nor_conv_1x1"] * 6, 85.0, 80.0, 6.0),  # dominated by A on validation
    "E": (["none", "none", "none", "none", "none", "skip_connect"], 10.0, 10.0, 0.01),  # disconnected
    "F": (["skip_connect"] * 5 + ["nor_conv_1x1"], 80.0, 83.0, 2.0),  # same (val, latency) as B
}


@pytest.fixture(scope="module")
def small() -> Benchmark:
    natives = {name: format_arch_str(ops) for name, (ops, *_) in ROWS.items()}
    table = pd.DataFrame(
        {"native": list(natives.values()), VAL: [r[1] for r in ROWS.values()], TEST: [r[2] for r in ROWS.values()],
         "latency_ms": [r[3] for r in ROWS.values()]},
        index=pd.Index(list(natives.values()), name="key"),
    )  # fmt: skip
    return Benchmark("small201", "fixture", NB201Space(), table)


def key(name: str) -> str:
    return format_arch_str(ROWS[name][0])


def trajectory_of(bench: Benchmark, names: list[str], seed: int = 0) -> Trajectory:
    records = []
    for step, name in enumerate(names, start=1):
        ops, val, test, latency = ROWS[name]
        records.append({"step": step, "key": key(name), "native": key(name), "val_acc": val, "test_acc": test,
                        "wall_time_s": 0.0, "latency_ms": latency})  # fmt: skip
    meta = {"benchmark": bench.name, "dataset": bench.dataset, "method": "hand", "seed": seed,
            "budget": len(names), "table_digest": mo.table_digest(bench)}  # fmt: skip
    return Trajectory(meta, records)


def test_true_front_excludes_degenerate_cells_and_has_the_documented_reference(small):
    truth = mo.true_front(small, "val_acc,latency_ms", VAL)
    assert truth.keys == (key("C"), key("B"), key("A"))  # no E (disconnected), F once as B
    assert truth.num_degenerate == 1
    # ideal (90, 1), nadir (70, 5); reference = nadir + 0.1 × (nadir − ideal) = (68, 5.4)
    assert truth.reference == pytest.approx([68.0, 5.4])
    # area: [1,2)×2 + [2,5)×12 + [5,5.4)×22 = 46.8, box (90−68)×(5.4−1) = 96.8
    assert truth.hypervolume_raw == pytest.approx(46.8)
    assert truth.hypervolume == pytest.approx(46.8 / 96.8)
    test_truth = mo.true_front(small, "val_acc,latency_ms", TEST)
    assert test_truth.keys == (key("C"), key("F"), key("A")) and test_truth.reference == pytest.approx([73.4, 5.4])


def test_a_runs_front_is_a_set_without_degenerate_cells(small):
    run = trajectory_of(small, ["D", "B", "F", "E", "A"])
    front = run.pareto_front("latency_ms", benchmark=small)
    assert front["key"].tolist() == [key("B"), key("A")]  # F repeats B, E is degenerate, D is dominated


def test_hypervolume_of_a_run_exact_and_independent_of_the_run(small):
    run = trajectory_of(small, ["D", "B", "F", "E", "A"])
    box = (91.0 - 73.4) * (5.4 - 1.0)
    # test points of the validation front {B, A}: [2,5)×(82−73.4) + [5,5.4)×(91−73.4) = 25.8 + 7.04
    assert mo.run_hypervolume(run, "val_acc,latency_ms", benchmark=small) == pytest.approx(32.84 / box)
    curve = mo.hypervolume_curve(run, "val_acc,latency_ms", benchmark=small)
    # D's test point lies beyond the reference (6 > 5.4); B adds 3.4 × 8.6; F and E change nothing
    assert curve == pytest.approx(np.array([0.0, 29.24, 29.24, 29.24, 32.84]) / box)
    other = trajectory_of(small, ["A", "B"], seed=7)  # another run with the same front
    assert mo.run_hypervolume(other, "val_acc,latency_ms", benchmark=small) == pytest.approx(32.84 / box)
    assert run.hypervolume("latency_ms", "test_acc", benchmark=small) == pytest.approx(32.84 / box)
    assert run.hypervolume("latency_ms", benchmark=small) == pytest.approx(
        mo.true_front(small, "val_acc,latency_ms").score(np.array([[80.0, 2.0], [90.0, 5.0]])))
    assert mo.hypervolume_regret(run, "val_acc,latency_ms", metric=VAL, benchmark=small) == pytest.approx(
        (46.8 - 44.8) / 96.8)  # the run misses C: [1,2) × 2 of the true front's area  # fmt: skip


def test_tables_for_the_notebook(small):
    runs = [trajectory_of(small, ["D", "B", "F", "E", "A"]), trajectory_of(small, ["A", "B"], seed=1)]
    for run in runs:
        run.metadata |= {"method": "random", "hyperparameters": {}}
    box = (91.0 - 73.4) * (5.4 - 1.0)
    hv = mo.hypervolume_table(runs, small, "val_acc,latency_ms", [2, 5])
    assert hv[["seed", "budget"]].values.tolist() == [[0, 2], [0, 5], [1, 2]]  # the second run has 2 queries
    assert hv["hv_test"].tolist() == pytest.approx([29.24 / box, 32.84 / box, 32.84 / box])
    curves = mo.hypervolume_curves(runs, small, "val_acc,latency_ms")
    assert list(curves) == ["random"] and curves["random"].shape == (2, 2)  # cut to the shortest run
    table = mo.mean_std_table(hv, "hv_test", ["method"])
    assert table.columns.tolist() == ["method", "2 queries", "5 queries"] and "(n=2)" in table.iloc[0, 1]
    other = trajectory_of(small, ["A"])
    other.metadata |= {"method": "nsga2", "hyperparameters": {"objectives": "val_acc,params_M"}}
    assert not mo.uses_objectives(other.metadata, Objectives.parse("lat"), small)  # other objectives: not compared


def test_constrained_best_and_infeasible_share(small):
    run = trajectory_of(small, ["D", "B", "F", "E", "A"])
    found = mo.constrained_best(run, "latency_ms<=3", benchmark=small)
    assert found == {"best": 82.0, "infeasible_share": pytest.approx(0.4), "feasible_found": True}  # B, not E
    assert mo.constrained_best(run, "latency_ms<=3", 1, benchmark=small)["feasible_found"] is False
    assert mo.constrained_best_in_table(small, "latency_ms<=3") == 82.0


def test_a_run_on_other_table_content_is_refused(small):
    run = trajectory_of(small, ["A"])
    run.metadata["table_digest"] = "0" * 16
    with pytest.raises(ObjectivesError, match="digest"):
        mo.run_hypervolume(run, "val_acc,latency_ms", benchmark=small)


def test_cache_keys_follow_the_table_content(small):
    changed = small.table.copy()
    changed.iloc[0, changed.columns.get_loc("latency_ms")] += 1.0
    other = Benchmark(small.name, small.dataset, small.space, changed)
    assert mo.table_digest(small) == small.content_digest() != mo.table_digest(other)


def test_disconnected_rule_matches_the_spaces_functional_key():
    space = NB201Space()
    cells = list(space.enumerate())
    flagged = [c for c in cells if mo.nb201_disconnected(space.to_native(c))]
    assert len(flagged) == 341
    assert all(space.functional_key(c) == "disconnected" for c in flagged)
    rng = np.random.default_rng(0)
    sample = [cells[i] for i in rng.choice(len(cells), 1500, replace=False)]
    assert all(mo.nb201_disconnected(space.to_native(c)) == (space.functional_key(c) == "disconnected")
               for c in sample)  # fmt: skip


# --------------------------------------------------------------------------- NSGA-II under the protocol


@pytest.fixture(scope="module")
def cora() -> Benchmark:
    return load_benchmark("nbgraph", "cora")


OBJ = "val_acc,latency_ms"


def test_nsga2_never_sees_test_accuracy(cora):
    table = cora.table.copy()
    table[TEST] = np.random.default_rng(3).permutation(table[TEST].to_numpy())
    permuted = Benchmark(cora.name, cora.dataset, cora.space, table)
    for hps in ({"objectives": OBJ}, {"objectives": OBJ, "constraint": "latency_ms<=3"}):
        assert run_search(cora, "nsga2", 45, 1, **hps).keys == run_search(permuted, "nsga2", 45, 1, **hps).keys


def test_nsga2_budget_anytime_and_determinism(cora):
    short = run_search(cora, "nsga2", 45, 2, objectives=OBJ)
    long = run_search(cora, "nsga2", 60, 2, objectives=OBJ)
    assert len(short) == 45 and len(long) == 60 and long.metadata["num_queried"] == 60
    assert long.keys[:45] == short.keys  # into the second generation
    assert run_search(cora, "nsga2", 60, 2, objectives=OBJ).keys == long.keys
    assert run_search(cora, "nsga2", 45, 3, objectives=OBJ).keys != short.keys
    tiny = run_search(cora, "nsga2", 7, 2, objectives=OBJ)  # smaller than the population
    assert tiny.keys == short.keys[:7]


def test_nsga2_refuses_objectives_the_benchmark_lacks(cora):
    with pytest.raises(ObjectivesError, match="nsga2 on nbgraph/cora: .*latency_pixel3_ms"):
        run_search(cora, "nsga2", 10, 0, objectives="val_acc,lat_pixel3")
    with pytest.raises(ObjectivesError):
        run_search(cora, "nsga2", 10, 0, objectives="val_acc,test_acc")


def test_sweep_passes_objectives_only_to_methods_that_take_them(cora):
    overrides = mo.sweep_overrides({}, ["random", "nsga2"], [cora], objectives="val_acc,lat", constraint="lat<=3")
    assert overrides == {"nsga2": {"objectives": "val_acc,latency_ms", "constraint": "latency_ms<=3.0"}}
    with pytest.raises(ObjectivesError, match="latency_pixel3_ms"):
        mo.sweep_overrides({}, ["nsga2"], [cora], objectives="lat_pixel3")


@pytest.fixture(scope="module")
def tradeoff() -> Benchmark:
    """Every NB201 cell; val and latency additive over the edges, with operations that trade one for the other."""
    space = NB201Space()
    rng = np.random.default_rng(1)
    gain = rng.normal(0.0, 2.0, size=(6, 5))
    cost = np.clip(0.6 * gain + rng.normal(0.0, 1.0, size=(6, 5)), -3, None) + 3.5  # better ops cost more
    natives, val, lat = [], [], []
    for cell in space.enumerate():
        ops = [space.operations.index(op) for op in cell.ops[1:-1]]
        natives.append(space.to_native(cell))
        val.append(70.0 + sum(gain[i, o] for i, o in enumerate(ops)))
        lat.append(sum(cost[i, o] for i, o in enumerate(ops)))
    val = np.asarray(val) + rng.normal(0.0, 0.3, len(val))
    table = pd.DataFrame({"native": natives, VAL: val, TEST: val + rng.normal(0.0, 0.3, len(val)),
                          "latency_ms": lat}, index=pd.Index(natives, name="key"))  # fmt: skip
    return Benchmark("tradeoff201", "fixture", space, table)


def test_nsga2_beats_random_in_hypervolume_on_a_tradeoff(tradeoff):
    budget, seeds = 200, range(3)

    def mean_hv(method: str, **hps) -> float:
        return float(np.mean([mo.run_hypervolume(run_search(tradeoff, method, budget, s, **hps), OBJ, metric=VAL,
                                                 benchmark=tradeoff) for s in seeds]))  # fmt: skip

    ours, rand = mean_hv("nsga2", objectives=OBJ), mean_hv("random")
    truth = mo.true_front(tradeoff, OBJ).hypervolume
    assert ours <= truth and rand <= truth
    assert truth - ours < 0.7 * (truth - rand), f"nsga2 {ours:.3f} vs random {rand:.3f} (true front {truth:.3f})"


@needs_nb201
def test_nb201_reference_points_are_fixed_and_leave_room():
    bench = load_benchmark("nb201", "cifar10")
    truth = mo.true_front(bench, "val_acc,lat_pixel3", TEST)
    assert truth.num_degenerate == 341
    assert truth.reference[0] > 80.0  # not the table's minimum (10 %: the disconnected cells)
    assert 0.5 < truth.hypervolume < 0.95  # the true front does not fill the box
    run = run_search(bench, "random", 50, 0)
    assert 0.0 < mo.run_hypervolume(run, "val_acc,lat_pixel3") < truth.hypervolume
