"""Paired comparison of two methods over common seeds."""

import numpy as np
import pandas as pd
import pytest

from lib.search.compare import paired_comparison


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
