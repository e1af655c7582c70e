"""lib.search.report: tables from stored runs agree with the trajectories they come from."""

from __future__ import annotations

import numpy as np
import pytest

from lib.benchmark import load_benchmark
from lib.search import run_search
from lib.search.report import best_rows, best_table, method_stats_rows, regret_stacks, run_label


@pytest.fixture(scope="module")
def runs():
    cora = load_benchmark("nbgraph", "cora")
    out = [run_search(cora, "random", 30, s) for s in range(3)]
    out += [run_search(cora, "evolution", 30, s) for s in range(2)]
    out += [run_search(cora, "evolution", 30, 0, population_size=5, sample_size=2)]
    return out


def test_labels_name_only_the_changed_hyperparameters(runs):
    assert run_label(runs[0].metadata) == "random"
    assert run_label(runs[-1].metadata) == "evolution[population_size:5,sample_size:2]"
    assert run_label(runs[-1].metadata, ignore=("sample_size",)) == "evolution[population_size:5]"


def test_best_rows_are_the_prefix_values_of_each_run(runs):
    rows = best_rows(runs, [10, 30, 50])
    assert set(rows["budget"]) == {10, 30}  # no run reaches 50: never extrapolated
    assert set(rows["method"]) == {"random", "evolution", "evolution[population_size:5,sample_size:2]"}
    for t in runs:
        mine = rows[(rows["method"] == run_label(t.metadata)) & (rows["seed"] == t.metadata["seed"])]
        assert mine.set_index("budget")["best"].to_dict() == {10: t.best_at(10), 30: t.best_at(30)}
    assert (rows["metric"] == "test_acc").all()
    only = best_rows(runs, [30], methods=["random"])
    assert list(only["method"].unique()) == ["random"] and len(only) == 3


def test_best_table_means_and_spreads(runs):
    rows = best_rows(runs, [30], methods=["random"])
    table = best_table(rows)
    values = [t.best_at(30) for t in runs[:3]]
    assert table.loc[0, "30 queries"] == f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}"
    assert table.loc[0, "seeds"] == 3


def test_regret_stacks_and_method_stats(runs):
    stacks = regret_stacks(runs)
    assert stacks[("nbgraph", "cora", "random")].shape == (3, 30)
    assert np.array_equal(stacks[("nbgraph", "cora", "random")][1], runs[1].regret("test_acc"))
    assert method_stats_rows(runs).empty  # the baselines report no method_stats
