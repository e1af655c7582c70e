"""Which code, method, model and table produced the runs that a table averages.

A stored run's name already separates runs whose identity differs (method
version, hyper-parameters, table content, model: see
:func:`lib.search.harness.run_identity`), but a results table groups runs by
benchmark, dataset and method label, so it could still average runs of two
model versions, or of two code versions. :func:`audit_runs` lists, per group,
every version that occurs; :func:`check_groups` refuses a group that mixes
what changes the queries (method version, table, model) and flags one that
mixes code versions only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from lib.errors import StudyError

GROUP = ["benchmark", "dataset", "method"]
QUERY_FIELDS = ["method_version", "table_digest", "model_digest", "harness_version"]
"""Fields whose mixing changes what the averaged runs computed: refused."""
CODE_FIELDS = ["code_version"]
"""Fields whose mixing may not change a query but is reported loudly."""


class MixedVersionsError(StudyError, ValueError):
    """A results group averages runs made by different method versions, tables or models."""


class MixedCodeWarning(UserWarning):
    """A results group averages runs made at different code versions."""


def audit_runs(metadata: Iterable[dict[str, Any]], label: Callable[[dict[str, Any]], str]) -> pd.DataFrame:
    """One row per run: its group (benchmark, dataset, method label), seed and the versions that made it.

    Runs stored before these fields were recorded show ``"unrecorded"``.
    """
    rows = []
    for meta in metadata:
        model = meta.get("model") or {}
        rows.append({
            "benchmark": meta["benchmark"], "dataset": meta["dataset"], "method": label(meta),
            "seed": meta["seed"], "budget": meta["budget"],
            "code_version": meta.get("code_version", "unrecorded"),
            "method_version": str(meta.get("method_version", "unrecorded")),
            "table_digest": meta.get("table_digest", "unrecorded"),
            "model_digest": model.get("digest", "none") if "model" in meta else "unrecorded",
            "harness_version": str(meta.get("harness_version", "unrecorded")),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=[*GROUP, "seed", "budget", *CODE_FIELDS, *QUERY_FIELDS])


def mixed_groups(audit: pd.DataFrame) -> pd.DataFrame:
    """Groups with more than one value of any version field: the field and the values, one row each."""
    rows = []
    for group, frame in audit.groupby(GROUP):
        for field in [*QUERY_FIELDS, *CODE_FIELDS]:
            values = sorted(frame[field].astype(str).unique())
            if len(values) > 1:
                counts = frame[field].astype(str).value_counts()
                rows.append({**dict(zip(GROUP, group)), "field": field,
                             "values": ", ".join(f"{v} ({counts[v]} runs)" for v in values)})  # fmt: skip
    return pd.DataFrame(rows, columns=[*GROUP, "field", "values"])


def check_groups(audit: pd.DataFrame, *, on_mixed: str = "refuse") -> pd.DataFrame:
    """Checks that no group mixes versions; returns :func:`mixed_groups`.

    Args:
        audit: From :func:`audit_runs`.
        on_mixed: ``"refuse"`` raises :class:`MixedVersionsError` for a group
            mixing method versions, tables or models, and warns
            (:class:`MixedCodeWarning`) for one mixing code versions only;
            ``"flag"`` warns for both.

    Raises:
        MixedVersionsError: With ``on_mixed="refuse"``, a group mixes what changes the queries.
        ValueError: An unknown ``on_mixed``.
    """
    if on_mixed not in ("refuse", "flag"):
        raise ValueError(f"on_mixed must be 'refuse' or 'flag', got {on_mixed!r}")
    mixed = mixed_groups(audit)
    if mixed.empty:
        return mixed
    serious = mixed[mixed["field"].isin(QUERY_FIELDS)]
    text = "\n".join(f"  {r.benchmark}/{r.dataset}/{r.method}: {r.field} = {r.values}" for r in mixed.itertuples())
    if not serious.empty and on_mixed == "refuse":
        raise MixedVersionsError(
            "these result groups average runs of different method versions, tables or models:\n" + text
            + "\nrerun the older runs (delete their files under the runs folder and rerun the sweep), "
            "or pass on_mixed='flag' to show them anyway"
        )
    warnings.warn("result groups mixing versions (their means average different code):\n" + text,
                  MixedCodeWarning, stacklevel=2)  # fmt: skip
    return mixed
