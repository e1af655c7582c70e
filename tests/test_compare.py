"""Paired comparison of two methods over common seeds."""

import numpy as np
import pandas as pd
import pytest

from lib.search.compare import RESULT_COLUMNS, holm, paired_comparison, paired_comparisons


def _results(differences, budgets=(50,)):
    rng = np.random.default_rng(0)
    rows = []
    for budget in budgets:
        for seed, d in enumerate(differences):
            base = 90 + rng.normal()
            rows += [{"benchmark": "b", "dataset": "d", "method": "base", "seed": seed, "budget": budget, "best": base},
                     {"benchmark": "b", "dataset": "d", "method": "new", "seed": seed, "budget": budget, "best": base + d}]
    return pd.DataFrame(rows)


def test_mean_difference_interval_and_tests():
    diffs = 1.0 + np.random.default_rng(1).normal(scale=0.1, size=10)
    out = paired_comparison(_results(diffs, budgets=(50, 100)), "new", "base")
    assert list(out["budget"]) == [50, 100] and (out["seeds"] == 10).all()
    row = out.iloc[0]
    assert row["mean_difference"] == pytest.approx(diffs.mean())
    assert row["ci_low"] < diffs.mean() < row["ci_high"]
    assert row["t_test_p"] < 1e-6 and row["wilcoxon_p"] < 0.01


def test_no_difference_and_unpaired_seeds():
    out = paired_comparison(_results([0.0] * 5), "new", "base")
    assert out.iloc[0]["mean_difference"] == 0 and np.isnan(out.iloc[0]["wilcoxon_p"]) and np.isnan(out.iloc[0]["t_test_p"])
    noisy = paired_comparison(_results([0.3, -0.2, 0.1, -0.4, 0.2, 0.0]), "new", "base").iloc[0]
    assert noisy["t_test_p"] > 0.5 and noisy["ci_low"] < 0 < noisy["ci_high"]
    single = _results([1.0, 2.0])
    single = single[~((single["method"] == "new") & (single["seed"] == 1))]  # one common seed only
    assert paired_comparison(single, "new", "base").empty


def test_unknown_method_and_bad_confidence():
    with pytest.raises(ValueError, match="no runs of"):
        paired_comparison(_results([1.0, 2.0]), "nope", "base")
    with pytest.raises(ValueError, match="confidence"):
        paired_comparison(_results([1.0, 2.0]), "new", "base", confidence=1.5)


def test_duplicate_seed_rows_are_refused_not_averaged():
    results = _results([1.0, 2.0, 3.0])
    twice = pd.concat([results, results.iloc[[1]].assign(best=0.0)], ignore_index=True)  # 'new', seed 0 again
    with pytest.raises(ValueError, match=r"1 \(benchmark, dataset, budget, method, seed\).*b/d/50/new/0"):
        paired_comparison(twice, "new", "base")
    other = pd.concat([results, results.assign(method="other")], ignore_index=True)
    assert len(paired_comparison(other, "new", "base")) == 1  # duplicates elsewhere are not this pair's concern


def test_holm_against_known_values():
    # R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm") -> 0.05 0.08 0.09 0.09 0.09
    assert holm([0.01, 0.02, 0.03, 0.04, 0.05]) == pytest.approx([0.05, 0.08, 0.09, 0.09, 0.09])
    # unsorted input, a capped value and NaN left out of the family (m = 4, not 5)
    out = holm([0.04, np.nan, 0.005, 0.03, 0.6])
    assert out[[0, 2, 3, 4]] == pytest.approx([0.09, 0.02, 0.09, 0.6]) and np.isnan(out[1])
    assert holm([0.3]) == pytest.approx([0.3]) and holm([]).shape == (0,)
    assert holm([0.5, 0.5, 0.5]) == pytest.approx([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.2, 1.5])


def test_paired_comparisons_correct_over_the_whole_family():
    diffs = 0.3 + np.random.default_rng(2).normal(scale=0.5, size=8)
    results = _results(diffs, budgets=(50, 100))
    results = pd.concat([results, results[results["method"] == "base"].assign(method="same")], ignore_index=True)
    family = paired_comparisons(results, [("new", "base"), ("same", "base")])
    assert list(family.columns) == RESULT_COLUMNS and len(family) == 4
    new = family[family["method"] == "new"]
    assert np.isnan(family[family["method"] == "same"]["t_test_p_holm"]).all()  # NaN p: outside the family, NaN
    expected = holm(new["t_test_p"])  # the two NaN rows do not count: m = 2
    assert new["t_test_p_holm"].to_numpy() == pytest.approx(expected)
    assert (new["t_test_p_holm"] >= new["t_test_p"]).all() and (new["wilcoxon_p_holm"] >= new["wilcoxon_p"]).all()
    single = paired_comparison(results, "new", "base")  # one call: its own rows are the family
    assert single["t_test_p_holm"].to_numpy() == pytest.approx(new["t_test_p_holm"].to_numpy())
    with pytest.raises(ValueError, match="pair"):
        paired_comparisons(results, [("new", "base", "same")])
    with pytest.raises(ValueError, match="no runs of"):
        paired_comparisons(results, [("new", "nope")])
