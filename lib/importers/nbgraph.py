"""Converts NAS-Bench-Graph's bundled pickles into one Parquet table, once.

The PyPI package ``nas-bench-graph`` ships its measurements as pickled dicts
(``nas_bench_graph/light/<dataset>.bench``). Unpickling can run code, so the
study reads them only here, on an explicit import, with a warning naming each
file; everything else reads the Parquet table this writes.

Table layout: one row per architecture key (the package's ``hash_arch`` of
the canonical drawing), ``link`` and ``ops`` as comma-separated text, and per
dataset ``<ds>_val_acc``/``<ds>_test_acc`` (percent), ``<ds>_latency_ms`` and
``<ds>_params_M``; datasets that did not measure a cell hold NaN.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import pandas as pd

from lib.data import nbgraph_table_path, write_table_atomic
from lib.errors import CorruptDataError, DataMissingError
from lib.spaces.nbgraph import NBGraphSpace

DATASETS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins")


def bench_dir() -> Path:
    """Folder of the package's ``.bench`` files.

    Raises:
        DataMissingError: The ``nas-bench-graph`` package is not installed.
    """
    try:
        import nas_bench_graph
    except ImportError:
        raise DataMissingError(
            "NAS-Bench-Graph: the package is not installed; run the README's install command "
            "(or pip install nas-bench-graph==1.4.0)"
        ) from None
    return Path(nas_bench_graph.__file__).resolve().parent / "light"


def read_bench(path: Path) -> dict:
    """Unpickles one ``.bench`` file after warning what is being loaded."""
    if not path.exists():
        raise DataMissingError(f"NAS-Bench-Graph: {path} is missing; reinstall nas-bench-graph")
    warnings.warn(f"unpickling NAS-Bench-Graph file {path} (pickles can run code: load only trusted files)",
                  stacklevel=2)  # fmt: skip
    with open(path, "rb") as handle:
        try:
            bench = pickle.load(handle)
        except Exception as exc:
            raise CorruptDataError(f"NAS-Bench-Graph: cannot unpickle {path}: {exc}") from None
    if not isinstance(bench, dict):
        raise CorruptDataError(f"NAS-Bench-Graph: {path} holds a {type(bench).__name__}, expected a dict")
    return bench


def import_nbgraph(source: str | Path | None = None, dest: str | Path | None = None) -> pd.DataFrame:
    """Builds the study's NAS-Bench-Graph table from the package's pickles.

    Args:
        source: Folder of ``<dataset>.bench`` files (default: the installed package's).
        dest: Parquet file to write (default: ``data/nbgraph/nbgraph.parquet``).

    Returns:
        The table that was written.
    """
    folder = Path(source) if source else bench_dir()
    columns: dict[str, dict[int, float]] = {}
    for dataset in DATASETS:
        bench = read_bench(folder / f"{dataset}.bench")
        for field, out, scale in (("valid_perf", "val_acc", 100.0), ("perf", "test_acc", 100.0),
                                  ("latency", "latency_ms", 1000.0), ("para", "params_M", 1.0)):  # fmt: skip
            columns[f"{dataset}_{out}"] = {int(k): float(v[field]) * scale for k, v in bench.items()}
    table = pd.DataFrame(columns).sort_index()
    natives = [NBGraphSpace.decode_key(k) for k in table.index]
    table.insert(0, "ops", [",".join(ops) for _, ops in natives])
    table.insert(0, "link", [",".join(map(str, link)) for link, _ in natives])
    table.insert(0, "key", [str(k) for k in table.index])
    table = table.reset_index(drop=True)
    write_table_atomic(table, Path(dest) if dest else nbgraph_table_path())
    return table
