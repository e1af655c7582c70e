"""Reads the benchmark tables (CSV / Parquet only) with errors that say how to fix them.

Tables are found through :mod:`lib.paths` (``$LATENT_NAS_DATA``, ``data/``,
``../shared/data``). Official benchmark files, some of them pickles, are never
read here: :mod:`lib.importers` converts them once into the tables below.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lib.errors import CorruptDataError, DataMissingError
from lib.paths import atomic_target, data_dirs, find_data_file, writable_data_dir

NB201_TABLE = ("nb201/nb201_cells.parquet", "nb201/nb201_cells.csv.gz")
NB101_METRICS_TABLE = ("nb101/nb101_metrics.parquet", "nb101/nb101_20k_metrics.csv.gz")
NB101_STRUCTURES_TABLE = ("nb101/nb101_cells.parquet", "nb101/nb101_cells.csv.gz")
NBGRAPH_TABLE = ("nbgraph/nbgraph.parquet",)

HOW_TO_GET = {
    "nb201": (
        "Put the study's table nb201/nb201_cells.csv.gz in a data folder, or import the official "
        "NAS-Bench-201 / NATS-Bench file: python -m lib.importers nb201 PATH "
        "(downloads: https://github.com/D-X-Y/NAS-Bench-201, https://github.com/D-X-Y/NATS-Bench)."
    ),
    "nb101": (
        "Put nb101/nb101_20k_metrics.csv.gz and nb101/nb101_cells.csv.gz in a data folder, or import the "
        "official nasbench_only108.tfrecord: python -m lib.importers nb101 PATH "
        "(download: https://github.com/google-research/nasbench)."
    ),
    "nbgraph": (
        "It ships with the PyPI package nas-bench-graph; convert it once with "
        "python -m lib.importers nbgraph (the install command does this)."
    ),
}

_STRING_COLUMNS = {"adj_upper_bits": str, "ops": str, "hash": str, "arch_str": str, "key": str, "link": str}


def read_table(candidates: tuple[str, ...], benchmark: str, required: list[str] | None = None) -> pd.DataFrame:
    """Reads the first existing candidate table of a benchmark.

    Args:
        candidates: Paths relative to a data folder, preferred first.
        benchmark: Benchmark name used in error messages (a key of :data:`HOW_TO_GET`).
        required: Columns that must be present.

    Returns:
        The table; string-like columns (bit strings, hashes) are kept as text.

    Raises:
        DataMissingError: No data folder holds any candidate.
        CorruptDataError: The file cannot be parsed or lacks a required column.
    """
    for relative in candidates:
        path = find_data_file(relative)
        if path is not None:
            break
    else:
        searched = ", ".join(str(d) for d in data_dirs())
        raise DataMissingError(
            f"{benchmark}: none of {list(candidates)} found in the data folders ({searched}). "
            f"{HOW_TO_GET.get(benchmark, '')}"
        )
    try:
        if path.suffix == ".parquet":
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path, dtype=_STRING_COLUMNS, keep_default_na=True)
    except Exception as exc:  # pandas/pyarrow raise many types for a damaged file
        raise CorruptDataError(
            f"{benchmark}: could not read {path} ({type(exc).__name__}: {exc}). "
            f"Delete or replace the file. {HOW_TO_GET.get(benchmark, '')}"
        ) from None
    missing = [c for c in required or [] if c not in table.columns]
    if missing:
        raise CorruptDataError(
            f"{benchmark}: {path} lacks the column(s) {missing}; is it the right file? {HOW_TO_GET.get(benchmark, '')}"
        )
    table.attrs["source"] = str(path)
    return table


def write_table_atomic(table: pd.DataFrame, path: Path) -> Path:
    """Writes a Parquet table through a temporary file so a crash never leaves half a file."""
    with atomic_target(path) as tmp:
        table.to_parquet(tmp, index=False)
    return Path(path)


def load_nb201_table() -> pd.DataFrame:
    """The NB201 table (15,625 rows in NAS-Bench-201 index order)."""
    return read_table(NB201_TABLE, "nb201", required=["arch_idx", "arch_str"])


def load_nb101_metrics_table() -> pd.DataFrame:
    """NB101 cells with measured 108-epoch validation accuracy (20,001 in the shared table)."""
    return read_table(
        NB101_METRICS_TABLE,
        "nb101",
        required=["hash", "num_vertices", "adj_upper_bits", "ops", "108_final_validation_accuracy"],
    )


def load_nb101_structures_table() -> pd.DataFrame:
    """Every NB101 structure (423,624 rows), no metrics."""
    return read_table(NB101_STRUCTURES_TABLE, "nb101", required=["hash", "num_vertices", "adj_upper_bits", "ops"])


def load_nbgraph_table() -> pd.DataFrame:
    """NAS-Bench-Graph, all datasets in one wide table (see :mod:`lib.importers.nbgraph`)."""
    return read_table(NBGRAPH_TABLE, "nbgraph", required=["key", "link", "ops"])


def nbgraph_table_path() -> Path:
    """Where :func:`lib.importers.nbgraph.import_nbgraph` writes its table."""
    return writable_data_dir() / NBGRAPH_TABLE[0]
