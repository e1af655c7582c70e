"""Runs that differ in a replicate hyper-parameter (e.g. ``pretrain_seed``) pooled as replicates of one method.

A search's result varies with its own seed and, for a method on a pretrained
model, with the model's pretraining seed. Notebook 06 labels a run by its
method and the hyper-parameters that differ from the defaults
(:func:`method_label`); naming some hyper-parameters as *replicate*
hyper-parameters (``pooled``) leaves them out of the label and records them in
a ``replicate`` column instead (:func:`replicate_of`), so a method's rows hold
every (pretraining seed × search seed) run:

* :func:`summarize_best` — mean ± std over all of a method's runs, with how
  many runs, search seeds and replicates they are;
* :func:`variance_split` — how much of that spread is between pretraining
  seeds and how much between search seeds (two-way sums of squares over the
  seeds every replicate has);
* :func:`mean_std_text` — ``mean ± std`` text per group of several columns
  over replicates (Table 1 over pretraining seeds);
* :func:`mean_over_replicates` — one row per (method, search seed): the mean
  over replicates, the input :func:`lib.search.compare.paired_comparisons`
  needs (one row per key), so comparisons still pair runs by search seed
  (runs with the same search seed share their random start).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

KEYS = ["benchmark", "dataset", "method", "metric", "budget"]
"""A results group: one method on one table at one budget."""


def _changed(meta: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta["hyperparameters"].items() if defaults.get(k, object()) != v}


def method_label(meta: dict[str, Any], pooled: Iterable[str] = (),
                 defaults: Callable[[str], dict[str, Any]] | None = None) -> str:  # fmt: skip
    """The method's name with the hyper-parameters that differ from its defaults, e.g. ``arch2vec_bo[ei:incumbent]``.

    Args:
        meta: A stored run's metadata (``method``, ``hyperparameters``, ``config_hash``).
        pooled: Replicate hyper-parameters left out of the label.
        defaults: ``method → default hyper-parameters`` (default
            :func:`lib.search.default_hyperparameters`); a method it cannot
            resolve (its module is unavailable) is labelled ``method@hash``.
    """
    if defaults is None:
        from lib.search import default_hyperparameters as defaults
    try:
        known = defaults(meta["method"])
    except Exception:  # a method whose module is unavailable here
        return f"{meta['method']}@{meta['config_hash'][:6]}"
    changed = {k: v for k, v in _changed(meta, known).items() if k not in set(pooled)}
    return meta["method"] + ("[" + ",".join(f"{k}:{v}" for k, v in sorted(changed.items())) + "]" if changed else "")


def replicate_of(meta: dict[str, Any], pooled: Iterable[str] = (),
                 defaults: Callable[[str], dict[str, Any]] | None = None) -> str:  # fmt: skip
    """The run's values of the replicate hyper-parameters, e.g. ``"pretrain_seed:1"`` (``""``: none pooled).

    A hyper-parameter the run does not record (a run stored before it
    existed) takes the method's default, so older runs count as the default
    replicate; one the method does not have at all is left out.
    """
    pooled = list(pooled)
    if not pooled:
        return ""
    if defaults is None:
        from lib.search import default_hyperparameters as defaults
    try:
        known = defaults(meta["method"])
    except Exception:
        known = {}
    values = {**{k: known[k] for k in pooled if k in known}, **{k: v for k, v in meta["hyperparameters"].items()
                                                                if k in pooled}}  # fmt: skip
    return ",".join(f"{k}:{json.dumps(values[k])}" for k in sorted(values))


def _check_unique(results: pd.DataFrame, keys: list[str]) -> None:
    duplicated = results[results.duplicated(keys, keep=False)]
    if not duplicated.empty:
        first = "/".join(map(str, duplicated.iloc[0][keys]))
        raise ValueError(f"{len(duplicated)} rows share their {', '.join(keys)} (e.g. {first}): a run of one label, "
                         "search seed and replicate must occur once; two runs of one label were probably made "
                         "with different hyper-parameters that the label leaves out")  # fmt: skip


def _with_replicate(results: pd.DataFrame) -> pd.DataFrame:
    missing = sorted(set(KEYS + ["seed", "best"]) - set(results.columns))
    if missing:
        raise ValueError(f"results lack the column(s) {missing}; need {KEYS + ['seed', 'best']} (+ replicate)")
    return results if "replicate" in results else results.assign(replicate="")


def summarize_best(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std of ``best`` over every run of a group (all search seeds × replicates).

    Args:
        results: The long table of notebook 06: :data:`KEYS`, ``seed``, ``best``
            and optionally ``replicate``.

    Returns:
        One row per group: :data:`KEYS`, ``mean``, ``std`` (NaN for one run),
        ``runs``, ``seeds`` (distinct search seeds), ``replicates``.

    Raises:
        ValueError: A missing column, or a (group, seed, replicate) that occurs twice.
    """
    results = _with_replicate(results)
    _check_unique(results, KEYS + ["seed", "replicate"])
    grouped = results.groupby(KEYS)
    out = grouped["best"].agg(mean="mean", std="std", runs="count")
    out["seeds"] = grouped["seed"].nunique()
    out["replicates"] = grouped["replicate"].nunique()
    return out.reset_index()


SPLIT_COLUMNS = [*KEYS, "replicates", "seeds", "mean", "std", "std_between_replicates", "std_between_seeds",
                 "replicate_share", "seed_share", "residual_share"]  # fmt: skip


def variance_split(results: pd.DataFrame) -> pd.DataFrame:
    """The spread of a pooled group split into its part between replicates and between search seeds.

    Uses the search seeds that every replicate of the group has (a complete
    replicates × seeds grid ``y``, P × S). ``std_between_replicates`` is the
    std over replicates of their means over the seeds, ``std_between_seeds``
    the std over seeds of their means over the replicates. The shares divide
    the total sum of squares Σ(y − ȳ)² exactly into its two-way parts:
    ``S·Σ_p(ȳ_p − ȳ)²`` (replicates), ``P·Σ_s(ȳ_s − ȳ)²`` (search seeds) and the
    rest (their interaction, which with one run per cell is also the noise).

    Returns:
        One row per group with at least two replicates and two common seeds,
        :data:`SPLIT_COLUMNS`; ``std`` is over the grid's P·S runs. Shares are
        NaN when every run found the same.
    """
    results = _with_replicate(results)
    _check_unique(results, KEYS + ["seed", "replicate"])
    rows = []
    for key, group in results.groupby(KEYS):
        wide = group.pivot(index="replicate", columns="seed", values="best").dropna(axis=1)
        if wide.shape[0] < 2 or wide.shape[1] < 2:
            continue
        y = wide.to_numpy(dtype=float)
        p, s = y.shape
        grand = y.mean()
        total = ((y - grand) ** 2).sum()
        between_rep = s * ((y.mean(axis=1) - grand) ** 2).sum()
        between_seed = p * ((y.mean(axis=0) - grand) ** 2).sum()
        shares = ([between_rep / total, between_seed / total, 1 - (between_rep + between_seed) / total]
                  if total > 0 else [np.nan] * 3)  # fmt: skip
        rows.append([*key, p, s, grand, y.std(ddof=1), y.mean(axis=1).std(ddof=1), y.mean(axis=0).std(ddof=1),
                     *shares])  # fmt: skip
    return pd.DataFrame(rows, columns=SPLIT_COLUMNS)


def mean_over_replicates(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (group, search seed): ``best`` averaged over the replicates, with their count.

    This is what :func:`lib.search.compare.paired_comparisons` pairs: the
    run of ``(replicate p, seed s)`` is never paired with a baseline's run
    by itself; the method's mean over its replicates at seed ``s`` is paired
    with the baseline's seed ``s`` (a method without replicates passes
    through unchanged).

    Returns:
        Columns :data:`KEYS`, ``seed``, ``best``, ``replicates``.

    Raises:
        ValueError: A missing column, or a (group, seed, replicate) that occurs twice.
    """
    results = _with_replicate(results)
    _check_unique(results, KEYS + ["seed", "replicate"])
    out = results.groupby(KEYS + ["seed"]).agg(best=("best", "mean"), replicates=("replicate", "nunique"))
    return out.reset_index()


def mean_std_text(rows: pd.DataFrame, by: list[str], columns: list[str], replicate: str, digits: int = 2) -> pd.DataFrame:
    """``"mean ± std"`` over the rows of each group, per column, and which replicates they are.

    Args:
        rows: One row per replicate (e.g. a Table-1 row per pretraining seed).
        by: Group columns (kept, in order of first appearance).
        columns: Numeric columns to summarise; a NaN is left out of its column's mean.
        replicate: Column naming the replicate; the output's ``replicate + "s"``
            column lists its values (e.g. ``pretrain_seeds = "0,1,2"``).
        digits: Decimals.

    Returns:
        One row per group: ``by``, the replicates, then ``columns`` as text
        (``"m ± s"``; ``"m"`` for one value; ``"–"`` for none).
    """
    missing = sorted(set(by + columns + [replicate]) - set(rows.columns))
    if missing:
        raise ValueError(f"rows lack the column(s) {missing}")
    out = []
    for key, group in rows.groupby(by, sort=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        row[replicate + "s"] = ",".join(map(str, group[replicate]))
        for column in columns:
            values = group[column].astype(float).dropna()
            row[column] = (f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}" if len(values) > 1
                           else f"{values.mean():.{digits}f}" if len(values) else "–")  # fmt: skip
        out.append(row)
    return pd.DataFrame(out, columns=[*by, replicate + "s", *columns])
