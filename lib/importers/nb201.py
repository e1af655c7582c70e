"""Import the official NAS-Bench-201 / NATS-Bench topology files into the NB201 table.

Supported inputs (downloaded by the user from the official pages):

* ``NAS-Bench-201-v1_0-e61699.pth`` / ``NAS-Bench-201-v1_1-096897.pth``: a
  ``torch.save``-d dict with ``meta_archs``, ``arch2infos`` (index ->
  ``{'less': ArchResults state, 'full': ArchResults state}``; ``'12'``/``'200'``
  are accepted as well), ``evaluated_indexes`` and ``total_archs``.
* ``NATS-tss-v1_0-3ffb9-simple/``: the extracted "simple" archive of NATS-Bench,
  holding ``meta.pickle.pbz2`` (``{'meta_archs': [...], ...}``) and one
  ``<idx:06d>.pickle.pbz2`` per cell (``{'12': ArchResults state, '200': ...}``),
  each a bz2-compressed pickle.
* A single bz2 pickle (``*.pickle.pbz2``) with the same dict layout as the .pth.

An ``ArchResults`` state dict (``api_utils.ArchResults.state_dict``) holds
``arch_index``, ``arch_str``, ``dataset_seed`` (dataset -> sorted seeds) and
``all_results`` keyed by ``(dataset, seed)``; each value is a ``ResultsCount``
state dict with ``epochs``, ``params``, ``flop``, ``train_times`` (epoch ->
seconds) and ``eval_acc1es`` keyed ``'<set>@<epoch>'`` such as ``'ori-test@199'``.
Only these plain dicts are read; the official API packages are not imported.

Security: both formats are pickles, which can execute code when loaded. Nothing
is unpickled without a warning naming the file, and by default only an
allow-list of globals is accepted (see :func:`_load_pth` and
:class:`_RestrictedUnpickler`).
"""

from __future__ import annotations

import bz2
import codecs
import functools
import os
import pickle
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from lib.data import write_table_atomic
from lib.errors import CorruptDataError, DataMissingError

__all__ = ["import_nb201_official", "UntrustedPickleWarning"]

NB201_URL = "https://github.com/D-X-Y/NAS-Bench-201"
NATS_URL = "https://github.com/D-X-Y/NATS-Bench"
PICKLE_EXT = "pickle.pbz2"
META_FILE = f"meta.{PICKLE_EXT}"

_HP_ALIASES = {"12": ("12", "less"), "200": ("200", "full")}

# (column, official dataset name, eval set name), following ``get_more_info``:
# test = 'ori-test' for 'cifar10' and 'x-test' otherwise; valid = 'x-valid'.
_E200_ACC_COLUMNS = (
    ("e200_cifar10_test_mean", "cifar10", "ori-test"),
    ("e200_cifar100_test_mean", "cifar100", "x-test"),
    ("e200_imagenet16_test_mean", "ImageNet16-120", "x-test"),
    ("e200_cifar10valid_val_naslib", "cifar10-valid", "x-valid"),
    ("e200_cifar100_val_naslib", "cifar100", "x-valid"),
    ("e200_imagenet16_val_naslib", "ImageNet16-120", "x-valid"),
)
_E12_ACC_COLUMNS = (
    ("e12_cifar10_test", "cifar10", "ori-test"),
    ("e12_cifar10_val", "cifar10-valid", "x-valid"),
    ("e12_cifar100_test", "cifar100", "x-test"),
    ("e12_cifar100_val", "cifar100", "x-valid"),
    ("e12_imagenet_test", "ImageNet16-120", "x-test"),
    ("e12_imagenet_val", "ImageNet16-120", "x-valid"),
)
# (column suffix, dataset for params/flops, dataset for the training time).
_COST_DATASETS = (
    ("cifar10", "cifar10", "cifar10-valid"),
    ("cifar100", "cifar100", "cifar100"),
    ("imagenet16", "ImageNet16-120", "ImageNet16-120"),
)


class UntrustedPickleWarning(UserWarning):
    """Emitted right before an official benchmark pickle is unpickled."""


def import_nb201_official(
    src: str | os.PathLike,
    dest: str | os.PathLike | None = None,
    *,
    progress: bool = True,
    allow_unsafe_pickle: bool = False,
) -> pd.DataFrame:
    """Converts an official NAS-Bench-201 / NATS-Bench topology file to the NB201 table.

    Each column is a mean over all seeds the file holds for that dataset
    (``ArchResults.get_metrics(..., is_random=False)``), taken at the last
    training epoch (eval key ``'<set>@<epochs - 1>'``, e.g. ``'x-valid@199'``):

    * ``e200_cifar10_test_mean``: ``'cifar10'`` ``'ori-test'``, 200 epochs.
    * ``e200_cifar100_test_mean`` / ``e200_imagenet16_test_mean``:
      ``'cifar100'`` / ``'ImageNet16-120'`` ``'x-test'``.
    * ``e200_cifar10valid_val_naslib``: ``'cifar10-valid'`` ``'x-valid'``;
      ``e200_cifar100_val_naslib`` / ``e200_imagenet16_val_naslib``:
      ``'cifar100'`` / ``'ImageNet16-120'`` ``'x-valid'``. These are seed
      means here, whereas the study's shared table (from NASLib) holds the
      value of one seed, so the two can differ slightly.
    * ``e12_{cifar10,cifar100,imagenet}_{test,val}``: the same eval keys for the
      12-epoch schedule (``'12'`` / ``'less'``), where the file has it.
    * ``params_M_<ds>`` / ``flops_M_<ds>``: the ``params`` (MB) and ``flop`` (M)
      fields for ``'cifar10'``, ``'cifar100'``, ``'ImageNet16-120'``.
    * ``train_time_s_<ds>``: total 200-epoch training time in seconds, the sum
      of ``train_times`` (``'T-train@total'``); for cifar10 the
      ``'cifar10-valid'`` run is used, as ``simulate_train_eval`` does.

    A column the file has no data for is left out. One row per evaluated cell,
    sorted by ``arch_idx`` (the NAS-Bench-201 index).

    Args:
        src: The ``NAS-Bench-201-v1_*.pth`` file, a NATS-Bench
            ``*.pickle.pbz2`` benchmark file, or the extracted
            ``NATS-tss-v1_0-3ffb9-simple`` directory.
        dest: If given, the table is also written to this Parquet file,
            atomically (temporary file in the same directory, then
            ``os.replace``).
        progress: Whether to show a tqdm progress bar over the cells.
        allow_unsafe_pickle: If True, unpickle without the allow-list of
            globals (``torch.load(weights_only=False)`` / ``pickle.load``).
            Only for a file that the default loader refuses and that you
            downloaded yourself from the official page.

    Returns:
        The table with columns ``arch_idx``, ``arch_str`` and the metric
        columns above.

    Raises:
        FileNotFoundError: ``src`` does not exist (a ``DataMissingError``
            naming the file and where to download it).
        ValueError: ``src`` does not have one of the layouts above (a
            ``CorruptDataError`` saying what was expected).
    """
    path = Path(src).expanduser()
    if not path.exists():
        raise DataMissingError(
            f"NAS-Bench-201 / NATS-Bench file not found: {path}. Download "
            f"NAS-Bench-201-v1_1-096897.pth (or v1_0-e61699.pth) from {NB201_URL}, "
            f"or NATS-tss-v1_0-3ffb9-simple.tar from {NATS_URL} and extract it."
        )
    if path.is_dir():
        cells = _iter_nats_simple_dir(path, allow_unsafe_pickle)
    else:
        cells = _iter_benchmark_file(path, allow_unsafe_pickle)
    table = _build_table(cells, progress=progress, source=path)
    if dest is not None:
        write_table_atomic(table, dest)
    return table


def _warn_unpickling(what: str) -> None:
    warnings.warn(
        f"Unpickling {what}. Pickle files can execute arbitrary code when loaded; "
        f"only load files downloaded from the official sources ({NB201_URL}, "
        f"{NATS_URL}).",
        UntrustedPickleWarning,
        stacklevel=4,
    )


class _RestrictedUnpickler(pickle.Unpickler):
    """C-speed unpickler that only resolves an allow-list of globals.

    ``find_class`` is the only way a pickle stream can reach code (``GLOBAL``,
    ``STACK_GLOBAL``, ``INST``/``OBJ`` and extension codes all go through it), so
    limiting it to plain containers, numpy scalars and torch's tensor rebuild
    helpers keeps unpickling free of arbitrary calls. Anything else raises
    ``pickle.UnpicklingError`` naming the refused global.
    """

    def find_class(self, module: str, name: str) -> Any:
        allowed = _allowed_globals()
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise pickle.UnpicklingError(
            f"refused to load global {module}.{name}: not on the allow-list of plain "
            "containers, numpy scalars and tensor rebuild helpers"
        )


class _RestrictedPickleModule:
    """Stand-in for the ``pickle`` module, passed to ``torch.load(pickle_module=...)``."""

    Unpickler = _RestrictedUnpickler

    @staticmethod
    def load(file: Any, **kwargs: Any) -> Any:
        return _RestrictedUnpickler(file, **kwargs).load()


@functools.lru_cache(maxsize=1)
def _allowed_globals() -> dict[tuple[str, str], Any]:
    """Maps ``(module, name)`` as written in the pickle to the allowed object."""
    import torch._utils

    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("__builtin__", "set"): set,
        ("__builtin__", "frozenset"): frozenset,
        ("_codecs", "encode"): codecs.encode,
        ("numpy", "dtype"): np.dtype,
    }
    scalar = np._core.multiarray.scalar if hasattr(np, "_core") else np.core.multiarray.scalar
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "scalar")] = scalar
    for name in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter",
                 "_rebuild_parameter_with_state"):
        allowed[("torch._utils", name)] = getattr(torch._utils, name)
    return allowed


def _load_bz2_pickle(path: Path, allow_unsafe_pickle: bool) -> Any:
    with bz2.open(path, "rb") as handle:
        if allow_unsafe_pickle:
            return pickle.load(handle)
        return _RestrictedUnpickler(handle).load()


def _load_pth(path: Path, allow_unsafe_pickle: bool) -> Any:
    """Loads a ``torch.save``-d file (zip or legacy format).

    ``torch.load`` still parses the container and restores tensor storages, but
    its pickle stream is read by :class:`_RestrictedUnpickler`, whose allow-list
    is a subset of what ``weights_only=True`` accepts plus numpy scalars. Unlike
    torch's pure-Python weights-only unpickler it runs at C speed, which matters
    for the multi-GB official files holding hundreds of millions of floats.
    """
    import torch

    pickle_module = pickle if allow_unsafe_pickle else _RestrictedPickleModule
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=pickle_module)


def _safe_load(loader: Callable[[Path, bool], Any], path: Path, allow_unsafe_pickle: bool) -> Any:
    try:
        return loader(path, allow_unsafe_pickle)
    except pickle.UnpicklingError as exc:
        raise CorruptDataError(
            f"{path} could not be unpickled with the restricted loader ({exc}). If this "
            f"is an unmodified official file from {NB201_URL} or {NATS_URL}, retry with "
            "allow_unsafe_pickle=True."
        ) from exc
    except (OSError, EOFError, RuntimeError) as exc:
        raise CorruptDataError(
            f"{path} is not a readable NAS-Bench-201 .pth or NATS-Bench .{PICKLE_EXT} "
            f"file: {exc}"
        ) from exc


def _iter_benchmark_file(
    path: Path, allow_unsafe_pickle: bool
) -> tuple[list[str], Iterable[tuple[int, Mapping]], int]:
    """Reads a single-file benchmark (.pth or .pickle.pbz2).

    Returns:
        ``(meta_archs, iterable of (index, hp -> ArchResults state), n_cells)``.
    """
    if path.name.endswith(".tar") or path.name.endswith(".tar.gz"):
        raise CorruptDataError(
            f"{path} is an archive; extract it and pass the NATS-tss-v1_0-3ffb9-simple "
            "directory (holding meta.pickle.pbz2) instead."
        )
    loader = _load_bz2_pickle if path.name.endswith(".pbz2") else _load_pth
    _warn_unpickling(f"{path}")
    data = _safe_load(loader, path, allow_unsafe_pickle)
    if not isinstance(data, Mapping) or not {"meta_archs", "arch2infos"} <= set(data):
        keys = sorted(map(str, data)) if isinstance(data, Mapping) else type(data).__name__
        raise CorruptDataError(
            f"{path} does not have the NAS-Bench-201 layout: expected a dict with keys "
            f"'meta_archs' and 'arch2infos' (plus 'evaluated_indexes', 'total_archs'), "
            f"got {keys}."
        )
    meta_archs = _check_meta_archs(data["meta_archs"], path)
    arch2infos = data["arch2infos"]
    if not isinstance(arch2infos, Mapping):
        raise CorruptDataError(f"{path}: 'arch2infos' must map cell index -> results dict.")
    items = ((int(idx), arch2infos[idx]) for idx in sorted(arch2infos, key=int))
    return meta_archs, items, len(arch2infos)


def _cell_file(directory: Path, idx: int) -> Path | None:
    for name in (f"{idx:06d}.{PICKLE_EXT}", f"{idx:d}.{PICKLE_EXT}"):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _iter_nats_simple_dir(
    directory: Path, allow_unsafe_pickle: bool
) -> tuple[list[str], Iterable[tuple[int, Mapping]], int]:
    """Reads the NATS-Bench "simple" directory lazily, one cell file at a time.

    Returns:
        ``(meta_archs, iterable of (index, hp -> ArchResults state), n_cells)``.
    """
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise CorruptDataError(
            f"{directory} is not a NATS-Bench topology 'simple' directory: expected "
            f"{META_FILE} and one <index>.{PICKLE_EXT} per cell (as in "
            f"NATS-tss-v1_0-3ffb9-simple from {NATS_URL})."
        )
    _warn_unpickling(
        f"{meta_path} and every <index>.{PICKLE_EXT} cell file in {directory}"
    )
    meta = _safe_load(_load_bz2_pickle, meta_path, allow_unsafe_pickle)
    if not isinstance(meta, Mapping) or "meta_archs" not in meta:
        raise CorruptDataError(f"{meta_path}: expected a dict with key 'meta_archs'.")
    meta_archs = _check_meta_archs(meta["meta_archs"], meta_path)
    found = [(idx, f) for idx in range(len(meta_archs)) if (f := _cell_file(directory, idx))]

    def items() -> Iterable[tuple[int, Mapping]]:
        for idx, cell_path in found:
            hp2state = _safe_load(_load_bz2_pickle, cell_path, allow_unsafe_pickle)
            if not isinstance(hp2state, Mapping):
                raise CorruptDataError(
                    f"{cell_path}: expected a dict hp ('12'/'200') -> ArchResults state dict."
                )
            yield idx, hp2state

    return meta_archs, items(), len(found)


def _check_meta_archs(meta_archs: Any, path: Path) -> list[str]:
    if not isinstance(meta_archs, (list, tuple)) or not all(isinstance(a, str) for a in meta_archs):
        raise CorruptDataError(f"{path}: 'meta_archs' must be a list of architecture strings.")
    return list(meta_archs)


def _build_table(
    cells: tuple[list[str], Iterable[tuple[int, Mapping]], int],
    *,
    progress: bool,
    source: Path,
) -> pd.DataFrame:
    from tqdm.auto import tqdm

    meta_archs, items, n_cells = cells
    rows = []
    for idx, hp2state in tqdm(items, total=n_cells, disable=not progress,
                              desc="NB201 cells", unit="cell"):
        if not 0 <= idx < len(meta_archs):
            raise CorruptDataError(
                f"{source}: cell index {idx} is outside meta_archs (0..{len(meta_archs) - 1})."
            )
        rows.append(_cell_row(idx, meta_archs[idx], hp2state, source))
    if not rows:
        raise CorruptDataError(f"{source}: no evaluated cells found.")
    if len(rows) < len(meta_archs):
        warnings.warn(
            f"{source}: {len(meta_archs) - len(rows)} of {len(meta_archs)} cells have no "
            "results and are left out of the table.",
            stacklevel=3,
        )
    table = pd.DataFrame(rows)
    table = table.dropna(axis=1, how="all")
    table = table.sort_values("arch_idx", kind="stable").reset_index(drop=True)
    table["arch_idx"] = table["arch_idx"].astype("int64")
    return table


def _hp_state(hp2state: Mapping, hp: str) -> Mapping | None:
    for key in _HP_ALIASES[hp]:
        if key in hp2state:
            return hp2state[key]
    return None


def _cell_row(idx: int, arch_str: str, hp2state: Mapping, source: Path) -> dict[str, Any]:
    """Converts one cell's ``hp -> ArchResults state`` dict into a table row."""
    if not isinstance(hp2state, Mapping):
        raise CorruptDataError(f"{source}: cell {idx} must be a dict hp -> ArchResults state.")
    full = _checked_arch_results(_hp_state(hp2state, "200"), idx, arch_str, source)
    less = _checked_arch_results(_hp_state(hp2state, "12"), idx, arch_str, source)
    if full is None and less is None:
        raise CorruptDataError(
            f"{source}: cell {idx} has neither '200'/'full' nor '12'/'less' results "
            f"(keys: {sorted(map(str, hp2state))})."
        )
    row: dict[str, Any] = {"arch_idx": idx, "arch_str": arch_str}
    for results, columns in ((less, _E12_ACC_COLUMNS), (full, _E200_ACC_COLUMNS)):
        for column, dataset, eval_set in columns:
            row[column] = _mean_over_seeds(
                results, dataset, functools.partial(_final_acc, eval_set=eval_set)
            )
    costs = full if full is not None else less
    for suffix, dataset, time_dataset in _COST_DATASETS:
        row[f"params_M_{suffix}"] = _mean_over_seeds(costs, dataset, lambda r: r.get("params"))
        row[f"flops_M_{suffix}"] = _mean_over_seeds(costs, dataset, lambda r: r.get("flop"))
        row[f"train_time_s_{suffix}"] = _mean_over_seeds(full, time_dataset, _total_train_time)
    return row


def _checked_arch_results(
    state: Any, idx: int, arch_str: str, source: Path
) -> Mapping | None:
    if state is None:
        return None
    if not isinstance(state, Mapping) or not isinstance(state.get("all_results"), Mapping):
        raise CorruptDataError(
            f"{source}: cell {idx}: expected an ArchResults state dict with 'all_results' "
            "mapping (dataset, seed) -> ResultsCount state dict."
        )
    stored = state.get("arch_str")
    if isinstance(stored, str) and stored != arch_str:
        raise CorruptDataError(
            f"{source}: cell {idx} stores arch_str {stored!r} but meta_archs[{idx}] is "
            f"{arch_str!r}."
        )
    return state


def _seed_results(arch_results: Mapping, dataset: str) -> list[Mapping]:
    all_results = arch_results["all_results"]
    seeds = (arch_results.get("dataset_seed") or {}).get(dataset)
    if seeds is None:
        seeds = sorted(seed for (name, seed) in all_results if name == dataset)
    return [all_results[(dataset, seed)] for seed in seeds if (dataset, seed) in all_results]


def _mean_over_seeds(
    arch_results: Mapping | None, dataset: str, value_of: Callable[[Mapping], Any]
) -> float:
    if arch_results is None:
        return float("nan")
    values = [value_of(result) for result in _seed_results(arch_results, dataset)]
    values = [float(v) for v in values if v is not None]
    return float(np.mean(values)) if values else float("nan")


def _final_acc(result: Mapping, eval_set: str) -> Any:
    """Returns ``eval_acc1es['<eval_set>@<epochs - 1>']``, as ``ResultsCount.get_eval`` does."""
    epochs = result.get("epochs")
    accs = result.get("eval_acc1es") or {}
    if epochs is None:
        return None
    return accs.get(f"{eval_set}@{int(epochs) - 1}")


def _total_train_time(result: Mapping) -> float | None:
    times = result.get("train_times")
    if not isinstance(times, Mapping) or not times:
        return None
    return float(sum(float(t) for t in times.values()))
