"""Benchmark layer: known facts, counted queries, budgets, clear errors, custom tables."""

import numpy as np
import pandas as pd
import pytest

from lib import benchmark as bm
from lib.benchmark import load_benchmark, register_table, unregister_table
from lib.errors import (
    BudgetExhaustedError,
    CorruptDataError,
    DataMissingError,
    InvalidCellError,
    NoMetricsError,
    NotInBenchmarkError,
    UnknownBenchmarkError,
)
from lib.spaces import NB201Space

from conftest import needs_nb101, needs_nb101_all, needs_nb201


@needs_nb201
@pytest.mark.parametrize(
    "dataset, best_test, arch_idx",
    [("cifar10", 94.373, {6111, 13714}), ("cifar100", 73.513, {9930}), ("imagenet16", 47.311, {857})],
)
def test_nb201_known_best_test_accuracies(dataset, best_test, arch_idx):
    bench = load_benchmark("nb201", dataset)
    oracle = bench.oracle()
    assert len(bench) == 15625
    assert oracle["best_test_acc"] == pytest.approx(best_test, abs=1e-3)
    assert bench.table.at[oracle["best_test_key"], "arch_idx"] in arch_idx


@needs_nb201
def test_nb201_best_validation_cell_and_its_test_accuracy():
    oracle = load_benchmark("nb201", "cifar10").oracle()
    assert oracle["best_val_acc"] == pytest.approx(91.57)
    assert oracle["test_acc_at_best_val"] == pytest.approx(94.297, abs=1e-3)


@needs_nb101
def test_nb101_metrics_table_facts():
    bench = load_benchmark("nb101")
    assert len(bench) == 20001 and not bench.has_test
    assert bench.oracle()["best_val_acc"] == pytest.approx(94.91, abs=5e-3)
    rng = np.random.default_rng(0)
    for _ in range(30):
        cell = bench.sample(rng)
        assert bench.query(cell)["key"] == bench.space.key(cell)


@needs_nb101_all
def test_nb101_all_structures_have_unique_hashes_that_we_reproduce():
    from lib.data import load_nb101_structures_table
    from lib.spaces import NB101Space

    table = load_nb101_structures_table()
    assert len(table) == 423624 and table["hash"].is_unique
    space = NB101Space()
    sample = table.sample(2000, random_state=0)
    for row in sample.itertuples():
        cell = space.from_table_row(row.adj_upper_bits, row.ops, row.num_vertices)
        assert space.key(cell) == row.hash


def test_nbgraph_default_benchmark_and_query_counting():
    bench = load_benchmark("nbgraph")
    assert bench.dataset == "cora" and len(bench) == 26206
    rng = np.random.default_rng(0)
    cells = [bench.sample(rng) for _ in range(3)]
    for cell in cells + cells[:1]:
        result = bench.query(cell)
        assert {"val_acc", "test_acc", "latency_ms", "params_M"} <= set(result)
    assert bench.budget_counters() == {"num_queries": 4, "num_unique": 3}
    bench.reset_counters()
    assert bench.budget_counters() == {"num_queries": 0, "num_unique": 0}


def test_nbgraph_proteins_uses_reduced_operations():
    bench = load_benchmark("nbgraph", "proteins")
    assert len(bench) == 2021
    from lib.spaces.nbgraph import link_ops_to_cell

    cell = link_ops_to_cell([0, 1, 2, 3], ["gat", "gcn", "gcn", "gcn"])
    with pytest.raises(InvalidCellError, match="not in this NAS-Bench-Graph space"):
        bench.query(cell)


def test_budget_counts_distinct_architectures():
    bench = load_benchmark("nbgraph", budget=2)
    rng = np.random.default_rng(1)
    a, b, c = (bench.sample(rng) for _ in range(3))
    bench.query(a), bench.query(b), bench.query(a)
    with pytest.raises(BudgetExhaustedError, match="budget of 2"):
        bench.query(c)
    assert bench.budget_counters()["num_unique"] == 2


def test_fresh_copies_do_not_share_counters():
    bench = load_benchmark("nbgraph")
    copy = bench.fresh(budget=5)
    copy.query(copy.sample(np.random.default_rng(0)))
    assert bench.budget_counters()["num_unique"] == 0 and copy.budget_counters()["num_unique"] == 1


def test_unknown_names_give_clear_errors():
    with pytest.raises(UnknownBenchmarkError, match="unknown benchmark 'nb999'"):
        load_benchmark("nb999")
    with pytest.raises(UnknownBenchmarkError, match="no dataset 'mnist'"):
        load_benchmark("nbgraph", "mnist")
    with pytest.raises(NoMetricsError, match="DARTS"):
        load_benchmark("darts")


def test_missing_data_names_file_and_fix(monkeypatch, tmp_path):
    from lib import data

    monkeypatch.setattr(data, "data_dirs", lambda: [tmp_path])
    monkeypatch.setattr(data, "find_data_file", lambda rel: None)
    with pytest.raises(DataMissingError, match=r"nb201.*nb201_cells.*lib.importers nb201"):
        data.load_nb201_table()


def test_corrupt_file_is_reported_not_a_pandas_traceback(monkeypatch, tmp_path):
    from lib import data

    broken = tmp_path / "nb201" / "nb201_cells.parquet"
    broken.parent.mkdir()
    broken.write_bytes(b"this is not parquet")
    monkeypatch.setattr(data, "find_data_file", lambda rel: tmp_path / rel if (tmp_path / rel).exists() else None)
    with pytest.raises(CorruptDataError, match=r"could not read .*nb201_cells.parquet"):
        data.load_nb201_table()
    broken.unlink()
    pd.DataFrame({"x": [1]}).to_parquet(broken)
    with pytest.raises(CorruptDataError, match=r"lacks the column\(s\) \['arch_idx', 'arch_str'\]"):
        data.load_nb201_table()


def test_not_measured_cell_is_named(monkeypatch):
    table = pd.DataFrame(
        {"native": ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"], "val_acc": [10.0]},
        index=pd.Index(["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]),
    )
    bench = bm.Benchmark("tiny", "x", NB201Space(), table)
    other = NB201Space().from_native("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(NotInBenchmarkError, match="has no measurement"):
        bench.query(other)
    assert bench.budget_counters()["num_queries"] == 0


def test_custom_table_runs_like_a_builtin(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_NAS_DATA", str(tmp_path / "data"))  # the descriptor goes there, not to data/
    space = NB201Space()
    rng = np.random.default_rng(0)
    archs = sorted({space.to_native(space.sample(rng)) for _ in range(20)})
    frame = pd.DataFrame({"arch": archs, "v": np.linspace(0.5, 0.9, len(archs)), "t": 0.8, "lat": 3.0})
    path = tmp_path / "mine.csv"
    frame.to_csv(path, index=False)
    register_table("mine", path, space="nb201", cell_column="arch", val_column="v", test_column="t",
                   cost_columns={"latency_ms": "lat"}, percent=False)  # fmt: skip
    try:
        bench = load_benchmark("mine")
        assert len(bench) == len(archs)
        best = bench.oracle()
        assert best["best_val_acc"] == pytest.approx(90.0) and best["best_val_key"] == archs[-1]
        assert bench.query(space.from_native(archs[0])) == {"key": archs[0], "val_acc": 50.0, "test_acc": 80.0, "latency_ms": 3.0}
        frame.loc[0, "arch"] = "|bad~0|"
        frame.to_csv(path, index=False)
        with pytest.raises(InvalidCellError, match="row 0"):
            load_benchmark("mine")
        with pytest.raises(ValueError, match="built-in"):
            register_table("nb201", path, space="nb201", cell_column="arch", val_column="v")
    finally:
        unregister_table("mine")
