"""Benchmarks: a search space plus a table of measurements, queried with counters.

``load_benchmark("nb201", "cifar10").query(cell)`` returns the measured metrics
of a cell and counts the query, as the NAS-Bench-101 API does; a search's cost
is read from :meth:`Benchmark.budget_counters`, never trusted from the search.

Every benchmark reports accuracies in percent under the same names:
``val_acc`` (what searches optimise), ``test_acc`` (what studies report, absent
on NB101 whose shared table has none) and cost metrics such as ``params_M``,
``flops_M``, ``latency_ms`` or ``latency_<device>_ms`` and ``train_time_s``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lib import data
from lib.cell import Cell
from lib.errors import (
    BudgetExhaustedError,
    CorruptDataError,
    DataMissingError,
    InvalidCellError,
    NoMetricsError,
    NotInBenchmarkError,
    UnknownBenchmarkError,
)
from lib.spaces import DartsSpace, NB101Space, NB201Space, NBGraphSpace, SearchSpace
from lib.spaces.nbgraph import PROTEINS_OPERATIONS

VAL = "val_acc"
TEST = "test_acc"
INFO_COLUMNS = ("native", "arch_idx")
"""Table columns that describe a row rather than measure it."""


@dataclass
class Benchmark:
    """A search space and the measurements of its cells on one dataset.

    Args:
        name: Benchmark name (``"nb201"``, ``"nb101"``, ``"nbgraph"`` or a custom name).
        dataset: Dataset the metrics were measured on.
        space: The search space of the cells.
        table: One row per measured architecture, indexed by ``space.key``,
            with a ``native`` column and metric columns named as in the module
            docstring.
        budget: Optional cap on distinct queried architectures.
    """

    name: str
    dataset: str
    space: SearchSpace
    table: pd.DataFrame
    budget: int | None = None
    _seen: dict[str, None] = field(default_factory=dict, repr=False)
    _num_queries: int = field(default=0, repr=False)
    _cells: list[Cell] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if VAL not in self.table.columns:
            raise CorruptDataError(f"{self.name}/{self.dataset}: the table has no validation-accuracy column")
        if not self.table.index.is_unique:
            raise CorruptDataError(f"{self.name}/{self.dataset}: architecture keys are not unique")

    @property
    def metrics(self) -> list[str]:
        """Metric names that :meth:`query` returns."""
        return [c for c in self.table.columns if c not in INFO_COLUMNS]

    @property
    def has_test(self) -> bool:
        return TEST in self.table.columns

    def __len__(self) -> int:
        return len(self.table)

    def key(self, cell: Cell) -> str:
        """The architecture's row key (raises :class:`InvalidCellError` for a foreign cell)."""
        return self.space.key(cell)

    def __contains__(self, cell: Cell) -> bool:
        try:
            return self.key(cell) in self.table.index
        except InvalidCellError:
            return False

    def query(self, cell: Cell, key: str | None = None) -> dict[str, Any]:
        """Looks up a cell's metrics and counts the query.

        Repeated queries of one architecture count once against the budget
        (they cost no extra training), but every call is counted in
        ``num_queries``.

        Args:
            cell: The architecture.
            key: ``self.key(cell)``, when the caller has already computed it.

        Raises:
            InvalidCellError: The cell is not in the search space.
            NotInBenchmarkError: The cell is valid but was never measured.
            BudgetExhaustedError: A new architecture was asked for once the
                budget of distinct architectures is spent.
        """
        key = self.key(cell) if key is None else key
        if key not in self.table.index:
            raise NotInBenchmarkError(
                f"{self.name}/{self.dataset} has no measurement for {self.space.to_native(cell)!r} "
                f"(the table holds {len(self.table):,} architectures; sample from Benchmark.cells())"
            )
        if key not in self._seen:
            if self.budget is not None and len(self._seen) >= self.budget:
                raise BudgetExhaustedError(
                    f"query budget of {self.budget} distinct architectures is spent on {self.name}/{self.dataset}"
                )
            self._seen[key] = None
        self._num_queries += 1
        return self._row(key)

    def _row(self, key: str) -> dict[str, Any]:
        row = self.table.loc[key]
        return {"key": key, **{m: _plain(row[m]) for m in self.metrics}}

    def budget_counters(self) -> dict[str, int]:
        """``{"num_queries": calls to query, "num_unique": distinct architectures}``."""
        return {"num_queries": self._num_queries, "num_unique": len(self._seen)}

    def reset_counters(self) -> None:
        """Forgets every query (start of a new search)."""
        self._seen.clear()
        self._num_queries = 0

    def queried_keys(self) -> list[str]:
        """Keys of the distinct architectures queried, in first-query order."""
        return list(self._seen)

    def cells(self) -> list[Cell]:
        """Every measured architecture as a cell, in table order (built once)."""
        if self._cells is None:
            self._cells = [self.space.from_native(n) for n in self.table["native"]]
        return self._cells

    def cell_at(self, position: int) -> Cell:
        """The cell of table row ``position`` (cheaper than building all cells)."""
        if self._cells is not None:
            return self._cells[position]
        return self.space.from_native(self.table["native"].iloc[position])

    def sample(self, rng: np.random.Generator) -> Cell:
        """A measured architecture drawn uniformly (not counted: it reveals no metric)."""
        return self.cell_at(int(rng.integers(len(self.table))))

    def oracle(self) -> dict[str, Any]:
        """Facts for regret: the best-validation architecture, its test accuracy, the best test accuracy."""
        best_val_key = self.table[VAL].idxmax()
        facts = {
            "num_architectures": len(self.table),
            "best_val_key": best_val_key,
            "best_val_acc": float(self.table.at[best_val_key, VAL]),
        }
        if self.has_test:
            best_test_key = self.table[TEST].idxmax()
            facts |= {
                "test_acc_at_best_val": float(self.table.at[best_val_key, TEST]),
                "best_test_key": best_test_key,
                "best_test_acc": float(self.table.at[best_test_key, TEST]),
            }
        return facts

    def fresh(self, budget: int | None = None) -> "Benchmark":
        """A copy sharing the table but with its own counters and budget."""
        clone = Benchmark(self.name, self.dataset, self.space, self.table, budget)
        clone._cells = self._cells
        return clone


def _plain(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


# --------------------------------------------------------------------------- registry

NB201_DATASETS = {
    "cifar10": ("e200_cifar10valid_val_naslib", "e200_cifar10_test_mean", "cifar10"),
    "cifar100": ("e200_cifar100_val_naslib", "e200_cifar100_test_mean", "cifar100"),
    "imagenet16": ("e200_imagenet16_val_naslib", "e200_imagenet16_test_mean", "imagenet16"),
}
NBGRAPH_DATASETS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins")
DEFAULT_DATASET = {"nbgraph": "cora", "nb201": "cifar10", "nb101": "cifar10"}
_ALIASES = {"nas-bench-graph": "nbgraph", "nasbenchgraph": "nbgraph", "nasbench201": "nb201",
            "nas-bench-201": "nb201", "nasbench101": "nb101", "nas-bench-101": "nb101"}  # fmt: skip
_CUSTOM: dict[str, Callable[[str | None], Benchmark]] = {}


def available_benchmarks() -> dict[str, tuple[str, ...]]:
    """Benchmark names with their datasets (built-in and registered)."""
    names = {
        "nbgraph": NBGRAPH_DATASETS,
        "nb201": tuple(NB201_DATASETS),
        "nb101": ("cifar10",),
    }
    names |= {name: ("custom",) for name in _CUSTOM}
    return names


def load_benchmark(name: str, dataset: str | None = None, *, budget: int | None = None) -> Benchmark:
    """Loads a benchmark by name.

    Args:
        name: ``"nbgraph"`` (default study benchmark), ``"nb201"``, ``"nb101"``
            or a name given to :func:`register_table`. ``"darts"`` has no
            measurements and raises :class:`NoMetricsError`.
        dataset: Dataset; ``None`` takes the benchmark's default.
        budget: Optional cap on distinct queried architectures.

    Raises:
        UnknownBenchmarkError: Unknown benchmark or dataset.
        DataMissingError: The benchmark's table is not in any data folder.
    """
    key = _ALIASES.get(name.lower(), name.lower())
    if key == "darts":
        raise NoMetricsError(
            "the DARTS space has no measured accuracies here (NAS-Bench-301 is not available); "
            "use lib.spaces.DartsSpace for sampling and unsupervised pretraining"
        )
    if key in _CUSTOM:
        bench = _CUSTOM[key](dataset)
    elif key == "nbgraph":
        bench = _load_nbgraph(_check_dataset(key, dataset, NBGRAPH_DATASETS))
    elif key == "nb201":
        bench = _load_nb201(_check_dataset(key, dataset, tuple(NB201_DATASETS)))
    elif key == "nb101":
        bench = _load_nb101(_check_dataset(key, dataset, ("cifar10",)))
    else:
        known = ", ".join(sorted(available_benchmarks()))
        raise UnknownBenchmarkError(f"unknown benchmark {name!r}; known: {known} (and 'darts' for the space only)")
    bench.budget = budget
    return bench


def _check_dataset(name: str, dataset: str | None, allowed: Sequence[str]) -> str:
    dataset = (dataset or DEFAULT_DATASET[name]).lower()
    dataset = {"imagenet16-120": "imagenet16", "imagenet": "imagenet16", "ogbn-arxiv": "arxiv"}.get(dataset, dataset)
    if dataset not in allowed:
        raise UnknownBenchmarkError(f"{name} has no dataset {dataset!r}; choose one of {list(allowed)}")
    return dataset


_TABLE_CACHE: dict[str, pd.DataFrame] = {}


def _cached(name: str, loader: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    if name not in _TABLE_CACHE:
        _TABLE_CACHE[name] = loader()
    return _TABLE_CACHE[name]


def _load_nb201(dataset: str) -> Benchmark:
    raw = _cached("nb201", data.load_nb201_table)
    val_col, test_col, suffix = NB201_DATASETS[dataset]
    for column in (val_col, test_col):
        if column not in raw.columns:
            raise CorruptDataError(f"nb201: the table {raw.attrs.get('source')} has no column {column!r}")
    table = pd.DataFrame(
        {"native": raw["arch_str"].to_numpy(), "arch_idx": raw["arch_idx"].to_numpy(),
         VAL: raw[val_col].to_numpy(float), TEST: raw[test_col].to_numpy(float)},
        index=pd.Index(raw["arch_str"].to_numpy(), name="key"),
    )  # fmt: skip
    for prefix, out in (("params_M", "params_M"), ("flops_M", "flops_M"), ("train_time_s", "train_time_s")):
        if f"{prefix}_{suffix}" in raw.columns:
            table[out] = raw[f"{prefix}_{suffix}"].to_numpy(float)
    for column in raw.columns:
        if column.startswith("lat_"):
            table[f"latency_{column[4:]}_ms"] = raw[column].to_numpy(float)
    return Benchmark("nb201", dataset, NB201Space(), table)


def _load_nb101(dataset: str) -> Benchmark:
    raw = _cached("nb101", data.load_nb101_metrics_table)
    natives = list(zip(raw["adj_upper_bits"], raw["ops"], raw["num_vertices"]))
    table = pd.DataFrame(
        {"native": [NB101Space.table_native(*n) for n in natives],
         VAL: raw["108_final_validation_accuracy"].to_numpy(float) * 100.0},
        index=pd.Index(raw["hash"].to_numpy(), name="key"),
    )  # fmt: skip
    if "108_final_test_accuracy" in raw.columns:
        table[TEST] = raw["108_final_test_accuracy"].to_numpy(float) * 100.0
    if "trainable_parameters" in raw.columns:
        table["params_M"] = raw["trainable_parameters"].to_numpy(float) / 1e6
    if "final_training_time" in raw.columns:
        table["train_time_s"] = raw["final_training_time"].to_numpy(float)
    return Benchmark("nb101", dataset, NB101Space(), table)


def _load_nbgraph(dataset: str) -> Benchmark:
    raw = _cached("nbgraph", data.load_nbgraph_table)
    val_col = f"{dataset}_val_acc"
    if val_col not in raw.columns:
        raise CorruptDataError(f"nbgraph: {raw.attrs.get('source')} has no column {val_col!r}; re-run the import")
    rows = raw[raw[val_col].notna()]
    natives = [
        ([int(x) for x in link.split(",")], ops.split(",")) for link, ops in zip(rows["link"], rows["ops"])
    ]
    table = pd.DataFrame(
        {"native": natives, VAL: rows[val_col].to_numpy(float), TEST: rows[f"{dataset}_test_acc"].to_numpy(float),
         "latency_ms": rows[f"{dataset}_latency_ms"].to_numpy(float),
         "params_M": rows[f"{dataset}_params_M"].to_numpy(float)},
        index=pd.Index(rows["key"].to_numpy(), name="key"),
    )  # fmt: skip
    space = NBGraphSpace(PROTEINS_OPERATIONS if dataset == "proteins" else NBGraphSpace().operations)
    return Benchmark("nbgraph", dataset, space, table)


# --------------------------------------------------------------------------- custom tables

SPACES: dict[str, Callable[[], SearchSpace]] = {
    "nb101": NB101Space,
    "nb201": NB201Space,
    "nbgraph": NBGraphSpace,
    "darts": DartsSpace,
}


def load_space(name: str) -> SearchSpace:
    """Returns a search space by name (``nb101``, ``nb201``, ``nbgraph``, ``darts``)."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in SPACES:
        raise UnknownBenchmarkError(f"unknown search space {name!r}; known: {sorted(SPACES)}")
    return SPACES[key]()


def register_table(
    name: str,
    path: str | Path,
    *,
    space: str,
    cell_column: str,
    val_column: str,
    test_column: str | None = None,
    cost_columns: Mapping[str, str] | None = None,
    parse_native: Callable[[Any], Any] | None = None,
    percent: bool = True,
) -> None:
    """Registers a CSV/Parquet of the user's own measurements as a benchmark.

    After ``register_table("mynb201", "runs.csv", space="nb201",
    cell_column="arch_str", val_column="val", test_column="test")``,
    ``load_benchmark("mynb201")`` works like a built-in benchmark.

    Args:
        name: Benchmark name to register (must not shadow a built-in one).
        path: The table file (``.csv``, ``.csv.gz`` or ``.parquet``).
        space: Name of the space its cells belong to.
        cell_column: Column with each cell's native form (e.g. NB201 arch strings).
        val_column: Validation accuracy column (what searches optimise).
        test_column: Optional test accuracy column.
        cost_columns: Optional ``{metric name: column}`` of cost metrics, e.g.
            ``{"latency_ms": "lat"}``.
        parse_native: Turns a cell-column value into the space's native form
            (default: the value itself).
        percent: Whether accuracies are already in percent (else fractions, scaled by 100).

    Raises:
        ValueError: The name is taken by a built-in benchmark.
    """
    key = name.lower()
    if key in ("nbgraph", "nb201", "nb101", "darts") or key in _ALIASES:
        raise ValueError(f"{name!r} is a built-in benchmark; choose another name")
    path = Path(path)
    space_obj = load_space(space)

    def loader(dataset: str | None) -> Benchmark:
        if not path.exists():
            raise DataMissingError(f"custom benchmark {name!r}: table file {path} does not exist")
        try:
            raw = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        except Exception as exc:
            raise CorruptDataError(f"custom benchmark {name!r}: could not read {path}: {exc}") from None
        columns = {cell_column: "cells", val_column: "validation", test_column: "test", **{
            c: m for m, c in (cost_columns or {}).items()}}  # fmt: skip
        missing = [c for c in columns if c is not None and c not in raw.columns]
        if missing:
            raise CorruptDataError(f"custom benchmark {name!r}: {path} has no column(s) {missing}")
        scale = 1.0 if percent else 100.0
        natives = [parse_native(v) if parse_native else v for v in raw[cell_column]]
        keys = []
        for row, native in enumerate(natives):
            try:
                keys.append(space_obj.key(space_obj.from_native(native)))
            except InvalidCellError as exc:
                raise InvalidCellError(f"custom benchmark {name!r}, row {row}: {exc}") from None
        table = pd.DataFrame({"native": natives, VAL: raw[val_column].to_numpy(float) * scale},
                             index=pd.Index(keys, name="key"))  # fmt: skip
        if test_column:
            table[TEST] = raw[test_column].to_numpy(float) * scale
        for metric, column in (cost_columns or {}).items():
            table[metric] = raw[column].to_numpy(float)
        if not table.index.is_unique:
            dup = table.index[table.index.duplicated()][0]
            raise CorruptDataError(f"custom benchmark {name!r}: architecture {dup!r} appears twice in {path}")
        return Benchmark(key, dataset or "custom", space_obj, table)

    _CUSTOM[key] = loader


def unregister_table(name: str) -> None:
    """Removes a custom benchmark registered with :func:`register_table`."""
    _CUSTOM.pop(name.lower(), None)
