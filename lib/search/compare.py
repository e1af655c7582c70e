"""Paired comparison of two search methods over the seeds both have.

Runs of two methods with the same seed share their random start (the
harness seeds numpy, torch and ``random`` identically), so the per-seed
difference is the natural unit: :func:`paired_comparison` reports its mean,
a Student-t confidence interval, the paired t-test and the Wilcoxon
signed-rank test, per benchmark, dataset and budget.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

RESULT_COLUMNS = ["benchmark", "dataset", "budget", "method", "baseline", "seeds", "mean_difference",
                  "ci_low", "ci_high", "t_test_p", "wilcoxon_p"]  # fmt: skip


def paired_comparison(results: pd.DataFrame, method: str, baseline: str, confidence: float = 0.95) -> pd.DataFrame:
    """``method − baseline`` per seed, summarised per benchmark, dataset and budget.

    Args:
        results: One row per run and budget with columns ``benchmark``,
            ``dataset``, ``method``, ``seed``, ``budget`` and ``best`` (the
            long table of notebook 06).
        method, baseline: Method labels as they appear in ``results``.
        confidence: Level of the interval of the mean difference.

    Returns:
        One row per (benchmark, dataset, budget) where both methods have at
        least two common seeds, with :data:`RESULT_COLUMNS`. The t-test's
        p-value is NaN when every difference is the same, Wilcoxon's when
        every difference is zero.

    Raises:
        ValueError: A method label not in ``results``, or a bad ``confidence``.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    known = set(results["method"])
    missing = [m for m in (method, baseline) if m not in known]
    if missing:
        raise ValueError(f"no runs of {missing}; methods with runs: {sorted(known)}")
    rows = []
    chosen = results[results["method"].isin([method, baseline])]
    for (bench, dataset, budget), group in chosen.groupby(["benchmark", "dataset", "budget"]):
        wide = group.pivot_table(index="seed", columns="method", values="best").dropna()
        if method not in wide or baseline not in wide or len(wide) < 2:
            continue
        diff = (wide[method] - wide[baseline]).to_numpy()
        n = len(diff)
        mean, sem = diff.mean(), diff.std(ddof=1) / np.sqrt(n)
        half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sem
        constant = np.allclose(diff, diff[0])
        t_p = float("nan") if constant else float(stats.ttest_rel(wide[method], wide[baseline]).pvalue)
        w_p = float("nan") if np.allclose(diff, 0) else float(stats.wilcoxon(diff).pvalue)
        rows.append([bench, dataset, budget, method, baseline, n, mean, mean - half, mean + half, t_p, w_p])
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)
