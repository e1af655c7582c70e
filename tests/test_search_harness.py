"""The search protocol: registry, oracle, run_search, trajectories and the result store.

Runs on NAS-Bench-Graph (always installed) with small budgets.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from lib.benchmark import Benchmark, load_benchmark
from lib.errors import BudgetExhaustedError, NotInBenchmarkError
from lib.search import (
    SearchOracle,
    Trajectory,
    UnknownMethodError,
    available_methods,
    get_method,
    hypervolume_2d,
    pareto_mask,
    register_method,
    run_search,
)
from lib.search.store import ResultStore, StoredRuns


@pytest.fixture(scope="module")
def cora() -> Benchmark:
    return load_benchmark("nbgraph", "cora")


@pytest.fixture(scope="module")
def tiny(cora) -> Benchmark:
    """Cora restricted to 300 measured cells, so most neighbours are unmeasured."""
    return Benchmark("tiny", "cora", cora.space, cora.table.iloc[:300])


# --------------------------------------------------------------------------- registry


def test_baselines_are_registered():
    assert {"random", "evolution", "local_search", "bananas"} <= set(available_methods())


def test_unknown_method_names_the_known_ones():
    with pytest.raises(UnknownMethodError, match="known: .*random"):
        get_method("no_such_method")


def test_unknown_hyperparameter_is_a_clear_type_error(cora):
    with pytest.raises(TypeError, match=r"evolution.*\['populaton_size'\].*population_size"):
        run_search(cora, "evolution", 5, 0, populaton_size=10)


def test_bad_hyperparameter_value_is_a_value_error(cora):
    with pytest.raises(ValueError, match="sample_size"):
        run_search(cora, "evolution", 5, 0, population_size=3, sample_size=5)


def test_a_name_cannot_be_registered_twice(temporary_method):
    @temporary_method("_test_dup")
    class First:
        def search(self, oracle, rng):
            pass

    with pytest.raises(ValueError, match="taken"):

        @register_method("_test_dup")
        class Second:
            def search(self, oracle, rng):
                pass


# --------------------------------------------------------------------------- oracle


def test_oracle_hides_test_accuracy_and_counts_distinct_queries(cora):
    oracle = SearchOracle(cora, budget=3)
    rng = np.random.default_rng(0)
    cells = [oracle.sample_new(rng) for _ in range(1)]
    first = oracle.query(cells[0])
    assert "test_acc" not in first and "val_acc" in first and "latency_ms" in first
    again = oracle.query(cells[0])
    assert again == first and oracle.num_queried == 1 and oracle.remaining == 2 and oracle.num_calls == 2
    assert oracle.is_queried(cells[0])
    oracle.query(oracle.sample_new(rng))
    oracle.query(oracle.sample_new(rng))
    assert oracle.remaining == 0
    with pytest.raises(BudgetExhaustedError):
        oracle.query(oracle.sample_new(rng))
    assert oracle.query(cells[0]) == first  # known cells stay free
    assert len(oracle.history) == 3 and cora.budget_counters()["num_unique"] == 0  # caller's counters untouched


def test_unmeasured_cells_spend_nothing(tiny):
    oracle = SearchOracle(tiny, budget=5)
    rng = np.random.default_rng(1)
    cell = oracle.sample(rng)
    missing = next(n for n in tiny.space.neighbours(cell) if not oracle.is_measured(n))
    with pytest.raises(NotInBenchmarkError):
        oracle.query(missing)
    assert oracle.num_queried == 0 and oracle.remaining == 5
    assert len(oracle.pool()) == 300


@pytest.mark.parametrize("method", ["random", "evolution", "local_search", "bananas"])
def test_baselines_cope_with_unmeasured_neighbours(tiny, method):
    trajectory = run_search(tiny, method, 25, 0, **({"epochs": 20} if method == "bananas" else {}))
    assert len(trajectory) == 25 and len(set(trajectory.keys)) == 25
    assert set(trajectory.keys) <= set(tiny.table.index)


# --------------------------------------------------------------------------- run_search


def test_methods_never_see_test_accuracy(cora, temporary_method):
    seen = []

    @temporary_method("_test_peek")
    class Peek:
        def search(self, oracle, rng):
            while True:  # asks past the budget: the harness ends the run
                seen.append(oracle.query(oracle.sample_new(rng)))

    trajectory = run_search(cora, "_test_peek", 7, 0)
    assert len(trajectory) == 7 and all("test_acc" not in r for r in seen)
    assert trajectory.metadata["stopped_by_budget"]
    frame = trajectory.to_frame()
    expected = cora.table.loc[frame["key"], "test_acc"].to_numpy()
    np.testing.assert_allclose(frame["test_acc"].to_numpy(), expected)


def test_trajectory_records_and_metadata(cora):
    trajectory = run_search(cora, "evolution", 20, 3)
    frame = trajectory.to_frame()
    assert list(frame["step"]) == list(range(1, 21))
    assert {"key", "native", "val_acc", "test_acc", "latency_ms", "params_M", "wall_time_s"} <= set(frame.columns)
    assert frame["wall_time_s"].is_monotonic_increasing
    meta = trajectory.metadata
    for name in ("benchmark", "dataset", "method", "hyperparameters", "budget", "seed", "config_hash",
                 "code_version", "oracle", "cost_bounds"):  # fmt: skip
        assert name in meta
    assert meta["hyperparameters"] == {"population_size": 10, "sample_size": 3}
    assert (meta["benchmark"], meta["dataset"], meta["budget"], meta["seed"]) == ("nbgraph", "cora", 20, 3)


def test_a_run_records_the_torch_threads_it_searched_with(cora):
    import torch

    from lib.threads import torch_threads

    with torch_threads(1):
        assert run_search(cora, "random", 5, 0).metadata["torch_threads"] == 1
    with torch_threads(2):  # and another count (a pytest-xdist worker's own count is 1, like the block above)
        assert run_search(cora, "random", 5, 0).metadata["torch_threads"] == 2
    assert run_search(cora, "random", 5, 0).metadata["torch_threads"] == torch.get_num_threads()


def test_a_run_records_the_method_stats_it_reports(cora, temporary_method):
    @temporary_method("_test_stats")
    class Counting:
        def search(self, oracle, rng):
            self.asked = 0
            while oracle.remaining:
                oracle.query(oracle.sample_new(rng))
                self.asked += 1

        def run_stats(self):
            return {"asked": self.asked, "rounds": [{"n": np.int64(1), "share": np.float32(0.5)}]}

    assert run_search(cora, "_test_stats", 7, 0).metadata["method_stats"] == {"asked": 7, "rounds": [{"n": 1, "share": 0.5}]}
    assert run_search(cora, "random", 5, 0).metadata["method_stats"] is None

    @temporary_method("_test_bad_stats")
    class Unserialisable(Counting):
        def run_stats(self):
            return {"cells": object()}

    with pytest.raises(TypeError, match="_test_bad_stats.run_stats"):
        run_search(cora, "_test_bad_stats", 3, 0)


def test_same_seed_same_trajectory_other_seed_other(cora):
    a = run_search(cora, "local_search", 30, 5)
    b = run_search(cora, "local_search", 30, 5)
    c = run_search(cora, "local_search", 30, 6)
    assert a.same_queries(b)
    assert not a.same_queries(c)


def test_best_so_far_and_regret(cora):
    trajectory = run_search(cora, "random", 40, 0)
    val = trajectory.best_so_far("val_acc", "val_acc")
    assert np.all(np.diff(val) >= 0) and val[-1] == max(r["val_acc"] for r in trajectory.records)
    test = trajectory.best_so_far()
    best_index = int(np.argmax([r["val_acc"] for r in trajectory.records]))
    assert test[-1] == trajectory.records[best_index]["test_acc"]
    regret = trajectory.regret()
    assert np.all(regret >= 0)
    np.testing.assert_allclose(regret, cora.oracle()["best_test_acc"] - test)
    assert trajectory.best_at(10) == test[9]


def test_prefix_equals_a_run_at_the_smaller_budget(cora):
    for method in ("random", "evolution", "local_search"):
        long = run_search(cora, method, 40, 2)
        short = run_search(cora, method, 15, 2)
        assert long.prefix(15).same_queries(short), method
        assert long.prefix(15).metadata["derived_from_budget"] == 40


def test_save_load_roundtrip_is_json(cora, tmp_path):
    trajectory = run_search(cora, "random", 12, 0)
    path = trajectory.save(tmp_path / "run.json")
    assert json.loads(path.read_text())["format"] == "latent-nas-trajectory"
    loaded = Trajectory.load(path)
    assert loaded.records == trajectory.records and loaded.metadata == trajectory.metadata
    assert not list(tmp_path.glob(".*.tmp"))


# --------------------------------------------------------------------------- Pareto front and hypervolume


def test_pareto_mask_on_hand_made_points():
    acc = np.array([90.0, 92.0, 91.0, 92.0, 89.0])
    cost = np.array([1.0, 3.0, 3.0, 2.0, 0.5])
    assert pareto_mask(acc, cost).tolist() == [True, False, False, True, True]


def test_hypervolume_2d_exact():
    # points (acc, cost): (2, 1) and (3, 2); reference (0, 4)
    # area = cost 1..2 at height 2, cost 2..4 at height 3 = 2 + 6 = 8
    assert hypervolume_2d([2.0, 3.0], [1.0, 2.0], (0.0, 4.0)) == pytest.approx(8.0)
    assert hypervolume_2d([2.0, 3.0], [1.0, 2.0], (0.0, 4.0), scale=(4.0, 4.0)) == pytest.approx(0.5)
    assert hypervolume_2d([1.0], [5.0], (0.0, 4.0)) == 0.0  # beyond the reference


def test_trajectory_front_and_normalised_hypervolume(cora):
    trajectory = run_search(cora, "random", 30, 1)
    front = trajectory.pareto_front("latency_ms")
    assert front["latency_ms"].is_monotonic_increasing and front["val_acc"].is_monotonic_increasing
    hv = trajectory.hypervolume("latency_ms")
    assert 0.0 < hv <= 1.0
    assert trajectory.hypervolume("latency_ms", budget=10) <= hv


# --------------------------------------------------------------------------- result store


def test_store_reuses_a_stored_run(cora, tmp_path, temporary_method):
    calls = []

    @temporary_method("_test_counted")
    class Counted:
        def __init__(self, width: int = 1):
            self.width = width

        def search(self, oracle, rng):
            calls.append(1)
            while oracle.remaining:
                oracle.query(oracle.sample_new(rng))

    store = ResultStore(tmp_path)
    first = store.run(cora, "_test_counted", 10, 0)
    again = store.run(cora, "_test_counted", 10, 0)
    assert len(calls) == 1 and again.records == first.records
    store.run(cora, "_test_counted", 10, 0, width=2)  # other config hash: a new run
    assert len(calls) == 2
    smaller = store.run(cora, "_test_counted", 4, 0)  # prefix of the stored budget-10 run
    assert len(calls) == 2 and smaller.records == first.records[:4]
    assert len(store.keys()) == 2


def test_stored_runs_reuse_a_sweeps_run_and_its_prefix_and_count_them(cora, tmp_path, temporary_method):
    calls = []

    @temporary_method("_test_counted_runner")
    class Counted:
        def __init__(self, width: int = 1):
            self.width = width

        def search(self, oracle, rng):
            calls.append(1)
            while oracle.remaining:
                oracle.query(oracle.sample_new(rng))

    swept = ResultStore(tmp_path).run(cora, "_test_counted_runner", 12, 3)  # what a sweep stored
    runs = StoredRuns(root=tmp_path)
    same = runs(cora, "_test_counted_runner", 12, 3, width=1)  # the default written out: the same identity
    cut = runs(cora, "_test_counted_runner", 5, 3)
    assert len(calls) == 1 and same.keys == swept.keys and cut.keys == swept.keys[:5]
    assert cut.metadata["derived_from_budget"] == 12
    other = runs(cora, "_test_counted_runner", 12, 4)  # not stored: searched and stored
    assert len(calls) == 2 and (runs.loaded, runs.ran) == (2, 1)
    assert "2 runs loaded" in runs.summary() and "1 searched now" in runs.summary()
    assert ResultStore(tmp_path).get(ResultStore.key_of(other)).keys == other.keys
    fresh = StoredRuns(reuse=False)
    assert fresh(cora, "_test_counted_runner", 12, 3).keys == swept.keys and len(calls) == 3
    assert fresh.store is None and "not reused" in fresh.summary()


def _write_runs(root: str, seeds: list[int]) -> None:
    store = ResultStore(root)
    bench = load_benchmark("nbgraph", "cora")
    for seed in seeds:
        store.run(bench, "random", 8, seed)


def _rewrite(root: str, path: str, times: int) -> None:
    store = ResultStore(root)
    trajectory = Trajectory.load(path)
    for _ in range(times):
        store.put(trajectory)


def test_concurrent_writers_lose_nothing(tmp_path):
    context = multiprocessing.get_context("fork")
    jobs = [context.Process(target=_write_runs, args=(str(tmp_path), seeds))
            for seeds in ([0, 1, 2, 3, 4], [3, 4, 5, 6, 7])]  # fmt: skip
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(60)
        assert job.exitcode == 0
    store = ResultStore(tmp_path)
    assert sorted(k.seed for k in store.keys()) == list(range(8))
    assert all(len(t) == 8 for t in store.load_all())
    assert not list(Path(tmp_path).rglob("*.tmp"))


def test_readers_never_see_half_a_file(cora, tmp_path):
    store = ResultStore(tmp_path)
    path = store.put(run_search(cora, "random", 100, 0))
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_rewrite, args=(str(tmp_path), str(path), 40)) for _ in range(2)]
    for writer in writers:
        writer.start()
    reads = 0
    while any(w.is_alive() for w in writers) or reads < 5:
        assert len(Trajectory.load(path)) == 100
        reads += 1
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0


def test_a_corrupt_stored_run_is_skipped_with_a_warning_and_counts_as_absent(cora, tmp_path):
    from lib.search.store import CorruptRunWarning

    store = ResultStore(tmp_path)
    small, large = run_search(cora, "random", 6, 0), run_search(cora, "random", 10, 1)
    bad, good = store.put(small), store.put(large)
    text = bad.read_text()
    bad.write_text(text[: len(text) // 2])  # truncated
    key = store.key_of(small)
    with pytest.warns(CorruptRunWarning, match=rf"{bad.name}.*rerun.*rm '{bad}'"):
        assert store.get(key) is None
    with pytest.warns(CorruptRunWarning):
        assert not store.has(key)  # a sweep reruns it, and the atomic write replaces the file
    with pytest.warns(CorruptRunWarning):
        assert [t.metadata["seed"] for t in store.load_all()] == [1]
    assert len(store.keys()) == 2  # listing reads no file
    # a larger run serves smaller budgets; a corrupt one is skipped for the next larger readable one
    store.put(run_search(cora, "random", 20, 1))
    good.write_text("{")
    with pytest.warns(CorruptRunWarning):
        served = store.get(store.key_of(large.prefix(5)))
    assert served.budget == 5 and served.same_queries(large.prefix(5))
    store.put(small)
    assert store.get(key).records == small.records


def test_stored_runs_are_readable_by_group_and_others(cora, tmp_path):
    from lib.paths import atomic_target

    old = os.umask(0o022)
    try:
        path = ResultStore(tmp_path).put(run_search(cora, "random", 4, 0))
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # mkstemp's 0o600 before
        os.umask(0o027)
        with atomic_target(tmp_path / "x.txt") as tmp:
            tmp.write_text("x")
        assert stat.S_IMODE((tmp_path / "x.txt").stat().st_mode) == 0o640  # the umask decides
    finally:
        os.umask(old)
