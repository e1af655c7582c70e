"""Paired comparison of two search methods over the seeds both have.

Runs of two methods with the same seed share their random start (the
harness seeds numpy, torch and ``random`` identically), so the per-seed
difference is the natural unit: :func:`paired_comparison` reports its mean,
a Student-t confidence interval, the paired t-test and the Wilcoxon
signed-rank test, per benchmark, dataset and budget.

A study reports many such p-values (pairs × benchmarks × budgets), so
:func:`paired_comparisons` treats every row it produces as one family and adds
Holm's step-down correction (:func:`holm`), which controls the family-wise
error rate under any dependence between the tests (the budgets of one run are
prefixes of each other, so their tests are strongly dependent).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

RESULT_COLUMNS = ["benchmark", "dataset", "budget", "method", "baseline", "seeds", "mean_difference",
                  "ci_low", "ci_high", "t_test_p", "wilcoxon_p", "t_test_p_holm", "wilcoxon_p_holm"]  # fmt: skip
KEY_COLUMNS = ["benchmark", "dataset", "budget", "method", "seed"]  # one row each in the input


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979), for a family of tests.

    The i-th smallest of m p-values becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``;
    rejecting the hypotheses whose adjusted p-value is at most α controls the
    family-wise error rate at α under any dependence. Same values as R's
    ``p.adjust(p, "holm")`` and statsmodels' ``multipletests(p, method="holm")``.

    Args:
        p_values: Array-like of p-values in [0, 1]; NaN entries (tests that
            could not be computed) are left out of the family and stay NaN.

    Returns:
        A float array of the input's shape with the adjusted p-values.

    Raises:
        ValueError: A p-value outside [0, 1].
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    flat, adjusted = p.ravel(), out.reshape(-1)
    known = np.flatnonzero(~np.isnan(flat))
    values = flat[known]
    if ((values < 0) | (values > 1)).any():
        raise ValueError(f"p-values must lie in [0, 1], got {values[(values < 0) | (values > 1)].tolist()}")
    m = len(values)
    order = np.argsort(values, kind="stable")
    stepped = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * values[order]))
    adjusted[known[order]] = stepped
    return out


def _check_unique(results: pd.DataFrame) -> None:
    """Raises a ValueError naming the (benchmark, dataset, budget, method, seed) rows that occur twice."""
    duplicated = results[results.duplicated(KEY_COLUMNS, keep=False)]
    if duplicated.empty:
        return
    keys = list(dict.fromkeys(map(tuple, duplicated[KEY_COLUMNS].itertuples(index=False))))
    shown = "; ".join("/".join(map(str, k)) for k in keys[:5])
    raise ValueError(
        f"{len(keys)} (benchmark, dataset, budget, method, seed) combination(s) occur more than once, "
        f"e.g. {shown}: a paired comparison needs one run per seed and method. Runs of one label with "
        "different hyper-parameters or code versions were probably mixed; give them distinct method labels "
        "or keep one run each (e.g. results.drop_duplicates(lib.search.compare.KEY_COLUMNS))."
    )


def paired_comparison(results: pd.DataFrame, method: str, baseline: str, confidence: float = 0.95) -> pd.DataFrame:
    """``method − baseline`` per seed, summarised per benchmark, dataset and budget.

    The Holm columns correct over the rows of this one call; to correct over
    several pairs together use :func:`paired_comparisons`.

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
        every difference is zero; NaN p-values stay NaN after correction.

    Raises:
        ValueError: A method label not in ``results``, a (benchmark, dataset,
            budget, method, seed) that occurs more than once (they are never
            averaged), or a bad ``confidence``.
    """
    return paired_comparisons(results, [(method, baseline)], confidence)


def paired_comparisons(results: pd.DataFrame, pairs, confidence: float = 0.95) -> pd.DataFrame:
    """Several paired comparisons as one family, with Holm-corrected p-values.

    Args:
        results: As for :func:`paired_comparison`.
        pairs: ``[(method, baseline), ...]``.
        confidence: Level of the intervals of the mean differences.

    Returns:
        The rows of :func:`paired_comparison` for every pair, in order, with
        ``t_test_p_holm`` and ``wilcoxon_p_holm`` corrected over all rows
        (each test is its own family; NaN p-values are left out of it).

    Raises:
        ValueError: A pair that is not two labels, a label not in ``results``,
            a duplicated (benchmark, dataset, budget, method, seed), or a bad
            ``confidence``.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    pairs = [tuple(pair) for pair in pairs]
    bad = [pair for pair in pairs if len(pair) != 2]
    if bad:
        raise ValueError(f"each comparison is a (method, baseline) pair, got {bad}")
    known = set(results["method"])
    missing = sorted({m for pair in pairs for m in pair} - known)
    if missing:
        raise ValueError(f"no runs of {missing}; methods with runs: {sorted(known)}")
    _check_unique(results[results["method"].isin({m for pair in pairs for m in pair})])
    rows = [row for method, baseline in pairs for row in _compare(results, method, baseline, confidence)]
    out = pd.DataFrame(rows, columns=RESULT_COLUMNS[:-2])
    out["t_test_p_holm"] = holm(out["t_test_p"].to_numpy(dtype=float))
    out["wilcoxon_p_holm"] = holm(out["wilcoxon_p"].to_numpy(dtype=float))
    return out


def _compare(results: pd.DataFrame, method: str, baseline: str, confidence: float) -> list[list]:
    """The uncorrected rows of one pair (``results`` already checked for duplicates)."""
    rows = []
    chosen = results[results["method"].isin([method, baseline])]
    for (bench, dataset, budget), group in chosen.groupby(["benchmark", "dataset", "budget"]):
        wide = group.pivot(index="seed", columns="method", values="best").dropna()
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
    return rows
