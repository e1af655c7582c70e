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

import ast
import difflib
import hashlib
import json
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
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
from lib.paths import atomic_target, writable_data_dir
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
    _shared: dict[str, Any] = field(default_factory=dict, repr=False)
    """Derived data (cells, digest, facts, sealed table, encodings), shared by :meth:`fresh` copies."""

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
        return self._derived("cells", lambda: [self.space.from_native(n) for n in self.table["native"]])

    def cell_at(self, position: int) -> Cell:
        """The cell of table row ``position`` (cheaper than building all cells)."""
        cells = self._shared.get("cells") or self._shared.get("parent", {}).get("cells")
        if cells is not None:
            return cells[position]
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

    def content_digest(self) -> str:
        """A digest of the table's content: keys, columns, native forms and every value.

        Two tables with the same name but other content have other digests, so
        a run's identity (which includes it) never mixes them. Computed once
        per benchmark (copies from :meth:`fresh` share it).
        """
        if "digest" not in self._shared:
            h = hashlib.sha256()
            h.update(json.dumps([self.name, self.dataset, self.space.name, list(map(str, self.table.columns))]).encode())
            h.update(pd.util.hash_pandas_object(self.table.index.to_series().astype(str), index=False).to_numpy().tobytes())
            for column in self.table.columns:
                values = self.table[column]
                if not pd.api.types.is_numeric_dtype(values.dtype):
                    values = values.map(str)
                h.update(pd.util.hash_pandas_object(values, index=False).to_numpy().tobytes())
            self._shared["digest"] = h.hexdigest()[:16]
        return self._shared["digest"]

    def facts(self) -> tuple[dict[str, Any], dict[str, list[float]]]:
        """The :meth:`oracle` facts (JSON values) and ``{metric: [min, max]}`` of the numeric metrics.

        Computed once per benchmark and kept on it (shared with :meth:`fresh`
        copies), so every run of a sweep reads the same facts without
        recomputing them.
        """
        if "facts" not in self._shared:
            bounds = {}
            for column in self.table.columns:
                if column in INFO_COLUMNS or not pd.api.types.is_numeric_dtype(self.table[column].dtype):
                    continue
                values = self.table[column]
                bounds[column] = [float(values.min()), float(values.max())]
            self._shared["facts"] = ({k: _plain(v) for k, v in self.oracle().items()}, bounds)
        return self._shared["facts"]

    def fresh(self, budget: int | None = None) -> "Benchmark":
        """A copy sharing the table (and its cached cells, digest and facts) with its own counters and budget."""
        clone = Benchmark(self.name, self.dataset, self.space, self.table, budget)
        clone._shared = self._shared
        return clone

    def sealed(self) -> "Benchmark":
        """A copy whose table has no test column (what a search's oracle holds), with fresh counters.

        The copy shares the cells and the pool encoding, not the test accuracies.
        """
        if "sealed_table" not in self._shared:
            self._shared["sealed_table"] = self.table.drop(columns=[TEST], errors="ignore")
        clone = Benchmark(self.name, self.dataset, self.space, self._shared["sealed_table"], self.budget)
        clone._shared = {k: self._shared[k] for k in ("cells", "pool_encoding", "positions") if k in self._shared}
        clone._shared["parent"] = self._shared  # so what the sealed copy builds is built once for all runs
        return clone

    def _derived(self, name: str, build: Callable[[], Any]) -> Any:
        """A derived value, built once and kept where every copy (sealed ones too) finds it."""
        store = self._shared.get("parent", self._shared)
        if name not in store:
            store[name] = build()
        self._shared[name] = store[name]
        return store[name]

    def pool_encoding(self) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, edges)`` of every measured cell for edit distances (see :func:`lib.encoding.pool_encoding`)."""
        from lib.encoding import pool_encoding

        return self._derived("pool_encoding", lambda: pool_encoding(self.space, self.cells()))

    def pool_digest(self) -> str:
        """A digest of the measured pool: the space and the architecture keys in table order (no metric)."""
        def build() -> str:
            keys = pd.util.hash_pandas_object(self.table.index.to_series().astype(str), index=False)
            return hashlib.sha256(self.space.name.encode() + keys.to_numpy().tobytes()).hexdigest()[:16]

        return self._derived("pool_digest", build)

    def positions(self, keys) -> np.ndarray:
        """Table positions of architecture keys (every key must be in the table)."""
        index = self._derived("positions", lambda: {key: i for i, key in enumerate(self.table.index)})
        return np.fromiter((index[k] for k in keys), dtype=np.int64)


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
_CUSTOM: dict[str, "CustomTable"] = {}
"""Process-local registrations (``register_table(..., persist=False)``), by lower-case name."""
BUILTIN_BENCHMARKS = ("nbgraph", "nb201", "nb101", "darts")


def available_benchmarks() -> dict[str, tuple[str, ...]]:
    """Benchmark names with their datasets: built-in ones and every registered table.

    Registered tables are read from their descriptors under
    ``writable_data_dir()/custom`` (see :func:`register_table`), so every
    process sees the same ones; a damaged descriptor is skipped with a warning
    here (loading it raises the error).
    """
    names = {
        "nbgraph": NBGRAPH_DATASETS,
        "nb201": tuple(NB201_DATASETS),
        "nb101": ("cifar10",),
    }
    names |= {name: (spec.dataset,) for name, spec in registered_tables(warn=True).items()}
    return names


def load_benchmark(name: str, dataset: str | None = None, *, budget: int | None = None) -> Benchmark:
    """Loads a benchmark by name.

    Args:
        name: ``"nbgraph"`` (default study benchmark), ``"nb201"``, ``"nb101"``
            or a name given to :func:`register_table`. ``"darts"`` has no
            measurements and raises :class:`NoMetricsError`.
        dataset: Dataset; ``None`` takes the benchmark's default (for a
            registered table: the dataset it was registered with, by default
            ``"custom"``; any other dataset is refused).
        budget: Optional cap on distinct queried architectures.

    Raises:
        UnknownBenchmarkError: Unknown benchmark or dataset.
        DataMissingError: The benchmark's table is not in any data folder.
        CorruptDataError, InvalidCellError: A registered table no longer
            passes the checks of :func:`register_table`.
    """
    if _ALIASES.get(name.lower(), name.lower()) == "darts":
        raise NoMetricsError(
            "the DARTS space has no measured accuracies here (NAS-Bench-301 is not available); "
            "use lib.spaces.DartsSpace for sampling and unsupervised pretraining"
        )
    key, dataset = resolve_dataset(name, dataset)
    if key == "nbgraph":
        bench = _load_nbgraph(dataset)
    elif key == "nb201":
        bench = _load_nb201(dataset)
    elif key == "nb101":
        bench = _load_nb101(dataset)
    else:
        bench = _load_custom(_custom_spec(key))
    bench.budget = budget
    return bench


def resolve_dataset(name: str, dataset: str | None = None) -> tuple[str, str]:
    """The canonical ``(benchmark, dataset)`` of a name and an optional dataset: the one rule for both.

    :func:`load_benchmark` and :func:`lib.sweep.parse_benchmarks` both use it,
    so a pair one accepts the other accepts too. Names and datasets are
    case-insensitive; aliases such as ``nas-bench-201`` or ``imagenet16-120``
    are accepted.

    Args:
        name: A built-in benchmark or a registered table.
        dataset: Its dataset; ``None`` takes the default (``DEFAULT_DATASET``,
            or the dataset a table was registered with).

    Raises:
        UnknownBenchmarkError: Unknown benchmark, or a dataset the benchmark does not have.
    """
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    known = available_benchmarks()
    if key not in known and _NAME.match(key) and (custom_tables_dir() / f"{key}.json").is_file():
        _read_descriptor(custom_tables_dir() / f"{key}.json")  # a damaged descriptor: say so, not "unknown"
    if key not in known:
        raise UnknownBenchmarkError(
            f"unknown benchmark {name!r}; known: {', '.join(sorted(known))} (and 'darts' for the space only; "
            "register your own table with `python -m lib.benchmark register`)"
        )
    return key, _check_dataset(key, dataset, known[key])


def _check_dataset(name: str, dataset: str | None, allowed: Sequence[str]) -> str:
    dataset = (dataset or DEFAULT_DATASET.get(name, allowed[0])).strip().lower()
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


NAN_POLICIES = ("drop", "unmeasured")
"""How :func:`register_table` treats missing values (NaN) in metric columns when told to (see there)."""
NATIVE_PARSERS: dict[str, Callable[[Any], Any]] = {"json": json.loads, "literal": ast.literal_eval}
"""Named parsers of a cell column's text; a persisted registration names one (``parse_native="json"``)."""
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_SHOWN = 5  # bad rows quoted in an error message; the rest are counted
_TABLES: dict[str, tuple["CustomTable", str, pd.DataFrame]] = {}  # name -> (spec, file digest, table)


@dataclass(frozen=True)
class CustomTable:
    """A registered table: all that is needed to rebuild its benchmark in any process.

    :func:`register_table` writes it as JSON to ``custom_tables_dir()/<name>.json``;
    the fields are the arguments of :func:`register_table`, with ``name``,
    ``space`` and ``dataset`` canonical (lower case) and ``path`` absolute.
    """

    name: str
    path: str
    space: str
    cell_column: str
    val_column: str
    test_column: str | None = None
    cost_columns: dict[str, str] = field(default_factory=dict)
    parse_native: str | Callable[[Any], Any] | None = None
    percent: bool = True
    minimise: bool = False
    nan: str | None = None
    dataset: str = "custom"


def custom_tables_dir() -> Path:
    """The folder of registered tables' descriptors: ``writable_data_dir()/custom``.

    That is ``$LATENT_NAS_DATA/custom`` when the variable is set, else the
    project's ``data/custom``; every process (sweep workers, Dask workers,
    notebooks) reads the same folder.
    """
    return writable_data_dir() / "custom"


def registered_tables(*, warn: bool = False) -> dict[str, CustomTable]:
    """Every registered table by name: the descriptors on disk, then this process's ``persist=False`` ones.

    Args:
        warn: Skip a damaged descriptor with a warning (default: raise).

    Raises:
        CorruptDataError: A descriptor cannot be read (unless ``warn``).
    """
    found: dict[str, CustomTable] = {}
    folder = custom_tables_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            try:
                spec = _read_descriptor(path)
            except CorruptDataError as exc:
                if not warn:
                    raise
                warnings.warn(str(exc), stacklevel=3)
                continue
            found[spec.name] = spec
    return found | _CUSTOM


def _read_descriptor(path: Path) -> CustomTable:
    try:
        payload = json.loads(path.read_text())
        spec = CustomTable(**payload["table"])
        if spec.name != path.stem:
            raise ValueError(f"it names the table {spec.name!r}")
        if spec.parse_native is not None and spec.parse_native not in NATIVE_PARSERS:
            raise ValueError(f"unknown parse_native {spec.parse_native!r}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptDataError(
            f"the descriptor {path} of custom benchmark {path.stem!r} cannot be read ({type(exc).__name__}: {exc}); "
            f"register the table again, or remove it with `python -m lib.benchmark unregister {path.stem}`"
        ) from None
    return spec


def _custom_spec(key: str) -> CustomTable:
    if key in _CUSTOM:
        return _CUSTOM[key]
    path = custom_tables_dir() / f"{key}.json"
    if not path.is_file():
        raise UnknownBenchmarkError(f"custom benchmark {key!r} is not registered (no {path})")
    return _read_descriptor(path)


def _load_custom(spec: CustomTable) -> Benchmark:
    return Benchmark(spec.name, spec.dataset, load_space(spec.space), _custom_table(spec))


def _custom_table(spec: CustomTable) -> pd.DataFrame:
    """The table of a registration, rebuilt when the registration or the file's bytes changed."""
    where = f"custom benchmark {spec.name!r}"
    path = Path(spec.path)
    if not path.is_file():
        raise DataMissingError(
            f"{where}: its table file {path} does not exist; put it back, or register the new location with "
            f"`python -m lib.benchmark register {spec.name} FILE ...` (or remove it: `... unregister {spec.name}`)"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    cached = _TABLES.get(spec.name)
    if cached is not None and cached[0] == spec and cached[1] == digest:
        return cached[2]
    table = _build_table(spec, path, where)
    _TABLES[spec.name] = (spec, digest, table)
    return table


def _read_table_file(path: Path, where: str) -> pd.DataFrame:
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if name.endswith((".tsv", ".tsv.gz")) else ",")
    except Exception as exc:  # pandas raises many types for a bad file
        kind = "Parquet" if name.endswith((".parquet", ".pq")) else "CSV"
        raise CorruptDataError(f"{where}: could not read {path} as a {kind} table: {type(exc).__name__}: {exc}") from None


def _rows(mask: np.ndarray, values: Sequence[Any] | None = None) -> str:
    """``rows 3, 8, 9, ... (12 in all)`` for an error message (0-based data rows, header not counted)."""
    rows = np.flatnonzero(mask)
    shown = [f"{r} ({values[r]!r})" if values is not None else str(r) for r in rows[:_SHOWN]]
    more = f", ... ({len(rows)} in all)" if len(rows) > _SHOWN else ""
    return f"row{'s' if len(rows) > 1 else ''} " + ", ".join(shown) + more


def _build_table(spec: CustomTable, path: Path, where: str) -> pd.DataFrame:
    """Reads and checks a registered table; every check reports all offending rows (a few quoted, all counted)."""
    raw = _read_table_file(path, where)
    if raw.empty:
        raise CorruptDataError(f"{where}: {path} has no rows")
    metric_columns = {VAL: spec.val_column, **({TEST: spec.test_column} if spec.test_column else {}),
                      **spec.cost_columns}  # fmt: skip
    wanted = [spec.cell_column, *metric_columns.values()]
    missing = [c for c in dict.fromkeys(wanted) if c not in raw.columns]
    if missing:
        close = {c: difflib.get_close_matches(c, list(map(str, raw.columns)), n=1) for c in missing}
        hint = "".join(f"; did you mean {m[0]!r} for {c!r}?" for c, m in close.items() if m)
        raise CorruptDataError(
            f"{where}: {path} has no column(s) {missing}; its columns are {list(map(str, raw.columns))}{hint}"
        )

    values: dict[str, np.ndarray] = {}
    problems, missing_values = [], {}
    for metric, column in metric_columns.items():
        numeric = pd.to_numeric(raw[column], errors="coerce").astype(float).to_numpy()
        absent = raw[column].isna().to_numpy()
        bad = (np.isnan(numeric) & ~absent) | np.isinf(numeric)
        if bad.any():
            problems.append(f"column {column!r} ({metric}) has {bad.sum()} value(s) that are not finite numbers: "
                            f"{_rows(bad, raw[column].tolist())}")  # fmt: skip
        if absent.any():
            missing_values[column] = absent
        values[metric] = numeric
    if problems:
        raise CorruptDataError(f"{where}: {path}: " + "; ".join(problems))
    if missing_values and spec.nan is None:
        detail = "; ".join(f"{column!r}: {mask.sum()} of {len(raw)}, {_rows(mask)}" for column, mask in missing_values.items())
        raise CorruptDataError(
            f"{where}: {path} has missing values (NaN) in metric column(s) {detail}. Say how to treat them: "
            "nan='drop' (--nan drop) removes every row with a missing metric; nan='unmeasured' (--nan unmeasured) "
            "makes a row without a validation value an unmeasured cell and keeps other missing values as NaN"
        )
    keep = np.ones(len(raw), dtype=bool)
    if spec.nan == "drop":
        for mask in missing_values.values():
            keep &= ~mask
    elif spec.nan == "unmeasured":
        keep &= ~raw[spec.val_column].isna().to_numpy()

    space = load_space(spec.space)
    parser = NATIVE_PARSERS[spec.parse_native] if isinstance(spec.parse_native, str) else spec.parse_native
    natives, keys, bad_rows = [], [], []
    for row, value in enumerate(raw[spec.cell_column].tolist()):
        try:
            cell = space.from_native(parser(value) if parser is not None else value)
            natives.append(space.to_native(cell))
            keys.append(space.key(cell))
        except (InvalidCellError, ValueError, TypeError, KeyError, IndexError, AttributeError, SyntaxError) as exc:
            bad_rows.append(f"row {row} ({value!r}): {exc}")
            natives.append(None)
            keys.append(None)
    if bad_rows:
        more = f"; ... ({len(bad_rows)} bad rows in all)" if len(bad_rows) > _SHOWN else ""
        parse = f" after parse_native={spec.parse_native!r}" if spec.parse_native else ""
        raise InvalidCellError(
            f"{where}: {len(bad_rows)} of {len(raw)} rows of {path} have a {spec.cell_column!r} value that is not "
            f"a cell of the {space.name} space{parse}: " + "; ".join(bad_rows[:_SHOWN]) + more
        )

    kept = np.flatnonzero(keep)
    if not len(kept):
        raise CorruptDataError(f"{where}: no row of {path} is left once rows with missing values are dropped")
    rows_of: dict[str, list[int]] = {}
    for row in kept:
        rows_of.setdefault(keys[row], []).append(int(row))
    repeated = {k: r for k, r in rows_of.items() if len(r) > 1}
    if repeated:
        shown = "; ".join(f"{natives[r[0]]!r} in rows {r}" for r in list(repeated.values())[:_SHOWN])
        more = f"; ... ({len(repeated)} in all)" if len(repeated) > _SHOWN else ""
        raise CorruptDataError(
            f"{where}: {len(repeated)} architecture(s) appear more than once in {path} (isomorphic drawings of a "
            f"cell are one architecture): {shown}{more}; keep one row per architecture (e.g. average the repeats)"
        )

    scale = 1.0 if spec.percent else 100.0
    sign = -1.0 if spec.minimise else 1.0
    index = pd.Index([keys[r] for r in kept], name="key")
    native = pd.Series([natives[r] for r in kept], index=index, dtype=object)  # object, not pandas' string dtype
    table = pd.DataFrame({"native": native, VAL: sign * scale * values[VAL][kept]}, index=index)
    if spec.test_column:
        table[TEST] = sign * scale * values[TEST][kept]
    for metric in spec.cost_columns:
        table[metric] = values[metric][kept]
    return table


def register_table(
    name: str,
    path: str | Path,
    *,
    space: str,
    cell_column: str,
    val_column: str,
    test_column: str | None = None,
    cost_columns: Mapping[str, str] | None = None,
    parse_native: str | Callable[[Any], Any] | None = None,
    percent: bool = True,
    minimise: bool = False,
    nan: str | None = None,
    dataset: str | None = None,
    persist: bool = True,
) -> Benchmark:
    """Registers a CSV/Parquet of the user's own measurements as a benchmark, in every process.

    After ``register_table("mynb201", "runs.csv", space="nb201",
    cell_column="arch_str", val_column="val", test_column="test")``,
    ``load_benchmark("mynb201")`` works like a built-in benchmark, here and in
    any other process: the registration is a small JSON descriptor written
    atomically to ``custom_tables_dir()/mynb201.json`` (``data/custom/`` or
    ``$LATENT_NAS_DATA/custom/``), which :func:`load_benchmark`,
    :func:`available_benchmarks`, ``python -m lib.sweep``, process-pool and
    Dask workers and the notebooks all read. The same from a shell:
    ``python -m lib.benchmark register mynb201 runs.csv --space nb201
    --cell-column arch_str --val val --test test``. Registering a name again
    replaces it (the benchmark's :meth:`Benchmark.content_digest` then changes
    with the content, and so do the stored runs' identities).

    The whole file is checked here, and again whenever it is loaded (a
    changed file is re-read): every named column exists, the metric columns
    are finite numbers, every row's cell is a cell of the space, and no
    architecture appears twice; each check reports all offending rows.

    **Direction.** Searches maximise ``val_acc``. With ``minimise=True`` (an
    error or a loss) the table stores the *negated* values, ``val_acc =
    -value`` and ``test_acc = -test value``, so the oracle's best cell is the
    one with the lowest value and regret is in the metric's own units; negate
    the stored numbers to read the original ones. (Negation rather than
    ``100 - value`` because it fits losses as well as percent errors.)

    Args:
        name: Benchmark name: letters, digits, ``_``, ``-``, ``.`` (case-insensitive;
            not a built-in name).
        path: The table file (``.csv``, ``.csv.gz``, ``.tsv`` or ``.parquet``);
            its absolute path is recorded, so keep the file there.
        space: Name of the space its cells belong to (``nb201``, ``nb101``, ``nbgraph``, ``darts``).
        cell_column: Column with each cell's native form (e.g. NB201 arch strings).
        val_column: Validation metric column (what searches optimise), percent by default.
        test_column: Optional test metric column (what studies report).
        cost_columns: Optional ``{metric name: column}`` of cost metrics, e.g.
            ``{"latency_ms": "lat"}`` (stored as they are, never negated).
        parse_native: Turns a cell-column value into the space's native form:
            ``None`` (the value itself, e.g. NB201 arch strings), the name of
            one of :data:`NATIVE_PARSERS` (``"json"``, ``"literal"``: e.g.
            ``[[0,0,1,1],["gcn","gat","sage","gin"]]`` for NAS-Bench-Graph), or a
            callable, which cannot be written to a descriptor: it needs
            ``persist=False``.
        percent: Whether the validation/test values are in percent (else
            fractions, multiplied by 100).
        minimise: The metric is to be minimised (an error, a loss): stored negated, see above.
        nan: Missing values (NaN) in a metric column are refused unless this
            says how to treat them: ``"drop"`` removes every row with a
            missing validation, test or cost value; ``"unmeasured"`` makes a
            row without a validation value an *unmeasured* cell (left out of
            the table: a search that proposes it learns nothing and spends
            nothing, as for any cell outside a table) and keeps a missing test
            or cost value as NaN in that row.
        dataset: The dataset name of the benchmark (default ``"custom"``);
            :func:`load_benchmark` and the sweep accept only this one.
        persist: Write the descriptor (default). ``False`` keeps the
            registration in this process only: spawned workers, Dask workers
            and other notebooks do not see it.

    Returns:
        The registered benchmark, loaded.

    Raises:
        ValueError: A bad name, a built-in name, an unknown ``nan`` or parser,
            or a callable ``parse_native`` with ``persist=True``.
        UnknownBenchmarkError: Unknown space.
        DataMissingError: The file does not exist.
        CorruptDataError: The file cannot be read, lacks a named column (the
            message lists the columns it has), has non-numeric or missing
            metric values, or lists an architecture twice.
        InvalidCellError: Rows whose cell is not in the space (all counted, the first few quoted).
    """
    key = str(name).strip().lower()
    if key in BUILTIN_BENCHMARKS or key in _ALIASES:
        raise ValueError(f"{name!r} is a built-in benchmark; choose another name")
    if not _NAME.match(key):
        raise ValueError(f"benchmark name {name!r}: use letters, digits, '_', '-' and '.' (no ':' or ',')")
    dataset_key = str(dataset or "custom").strip().lower()
    if not _NAME.match(dataset_key):
        raise ValueError(f"dataset name {dataset!r}: use letters, digits, '_', '-' and '.' (no ':' or ',')")
    if nan not in (None, *NAN_POLICIES):
        raise ValueError(f"nan={nan!r}: choose 'drop' or 'unmeasured' (or None to refuse missing values)")
    if isinstance(parse_native, str) and parse_native not in NATIVE_PARSERS:
        raise ValueError(f"parse_native={parse_native!r}: choose one of {sorted(NATIVE_PARSERS)} or pass a callable")
    if parse_native is not None and not isinstance(parse_native, str) and not callable(parse_native):
        raise ValueError(f"parse_native must be a parser name {sorted(NATIVE_PARSERS)} or a callable, got {parse_native!r}")
    if callable(parse_native) and persist:
        raise ValueError(
            f"custom benchmark {name!r}: a Python function as parse_native cannot be stored for other processes; "
            f"use a parser name {sorted(NATIVE_PARSERS)}, convert the column beforehand, or pass persist=False "
            "to keep the registration in this process only (sweep workers and notebooks will not see it)"
        )
    costs = {str(m): str(c) for m, c in (cost_columns or {}).items()}
    reserved = [m for m in costs if m in (VAL, TEST, "key", *INFO_COLUMNS)]
    if reserved:
        raise ValueError(f"cost metric name(s) {reserved} are reserved; name costs e.g. 'latency_ms' or 'params_M'")
    spec = CustomTable(
        name=key, path=str(Path(path).expanduser().resolve()), space=load_space(space).name,
        cell_column=cell_column, val_column=val_column, test_column=test_column or None, cost_columns=costs,
        parse_native=parse_native, percent=bool(percent), minimise=bool(minimise), nan=nan, dataset=dataset_key,
    )  # fmt: skip
    table = _custom_table(spec)
    if persist:
        descriptor = custom_tables_dir() / f"{key}.json"
        payload = {"format": 1, "table": asdict(spec),
                   "registered": {"rows": len(table), "at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")}}  # fmt: skip
        with atomic_target(descriptor) as tmp:
            tmp.write_text(json.dumps(payload, indent=2) + "\n")
        _CUSTOM.pop(key, None)
    else:
        _CUSTOM[key] = spec
    return _load_custom(spec)


def unregister_table(name: str) -> bool:
    """Removes a table registered with :func:`register_table` (its descriptor and any process-local entry).

    Returns:
        Whether there was such a registration (an unknown name is not an error).
    """
    key = str(name).strip().lower()
    removed = _CUSTOM.pop(key, None) is not None
    _TABLES.pop(key, None)
    if _NAME.match(key):
        descriptor = custom_tables_dir() / f"{key}.json"
        if descriptor.exists():
            descriptor.unlink()
            removed = True
    return removed


if __name__ == "__main__":  # python -m lib.benchmark register|unregister|list ...
    import sys

    from lib.benchmark_cli import main

    sys.exit(main())
