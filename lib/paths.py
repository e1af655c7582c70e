"""Where the study reads data and writes results.

Every path is resolved from the project root, never from the working
directory, because papermill runs notebooks in the caller's directory and
nbval in the notebook's.

Data are looked up, in order, in ``$LATENT_NAS_DATA`` (if set), the project's
``data/`` folder and ``../shared/data`` beside the project.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""Root of the repository (the folder holding ``lib/``)."""

DATA_ENV_VAR = "LATENT_NAS_DATA"
RESULTS_ENV_VAR = "LATENT_NAS_RESULTS"


@contextmanager
def atomic_target(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yields a temporary file beside ``path`` to write; on success it is renamed over ``path``.

    The rename is atomic, so readers never see half a file and concurrent
    writers never share a temporary file; on an error the temporary file is
    removed and ``path`` is left as it was. The file gets the mode of any
    newly created file (``0o666`` less the umask, e.g. ``0o644``), not the
    owner-only ``0o600`` of :func:`tempfile.mkstemp`, so results stay readable
    by the group and others as the umask allows.

    Args:
        path: The file to (re)place; its folder is created if missing.
        suffix: Ending of the temporary name (some writers need ``.npz``, ``.png``, ...).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_unique(path.parent, f".{path.name}.", suffix)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _create_unique(folder: Path, prefix: str, suffix: str) -> str:
    """Creates a new empty file with a random name in ``folder``, mode ``0o666`` less the umask (the kernel applies it)."""
    for _ in range(100):
        name = str(folder / f"{prefix}{secrets.token_hex(6)}{suffix}")
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return name
    raise FileExistsError(f"could not create a unique temporary file {prefix}*{suffix} in {folder}")


@contextmanager
def file_lock(path: str | Path) -> Iterator[Path]:
    """Holds an exclusive lock on ``.<name>.lock`` beside ``path`` for the block (other processes wait).

    It serialises work on one file between processes (two test workers, a
    sweep and a notebook training the same model): the second one waits and
    then finds the first one's result. The lock is an advisory ``flock``,
    released by the kernel when the holder exits or dies, so a crashed holder
    never leaves a stale lock; the empty lock file is left in place (removing
    it would race with a waiting process). Where ``fcntl`` is missing
    (Windows) the block runs unlocked: writers stay safe through
    :func:`atomic_target`, they may only repeat each other's work.

    Args:
        path: The file the lock guards (need not exist; its folder is created).

    Yields:
        The lock file's path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(f".{path.name}.lock")
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield lock
        return
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits while another process holds it
        try:
            yield lock
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def data_dirs() -> list[Path]:
    """Returns the folders searched for benchmark files, in priority order."""
    dirs = []
    if os.environ.get(DATA_ENV_VAR):
        dirs.append(Path(os.environ[DATA_ENV_VAR]).expanduser().resolve())
    dirs.append(PROJECT_ROOT / "data")
    dirs.append((PROJECT_ROOT.parent / "shared" / "data").resolve())
    return dirs


def find_data_file(relative: str | Path) -> Path | None:
    """Finds a data file in the first data folder that holds it.

    Args:
        relative: Path below a data folder, e.g. ``"nb201/nb201_cells.csv.gz"``.

    Returns:
        The absolute path, or ``None`` when no data folder has the file.
    """
    for folder in data_dirs():
        candidate = folder / relative
        if candidate.exists():
            return candidate
    return None


def writable_data_dir() -> Path:
    """Returns the folder that imports and caches write to (created on demand).

    This is ``$LATENT_NAS_DATA`` when set, else the project's ``data/``; the
    read-only ``../shared/data`` is never written.
    """
    if os.environ.get(DATA_ENV_VAR):
        folder = Path(os.environ[DATA_ENV_VAR]).expanduser().resolve()
    else:
        folder = PROJECT_ROOT / "data"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cache_dir() -> Path:
    """Returns the folder for derived caches (tensors, checkpoints)."""
    folder = writable_data_dir() / "cache"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def results_dir(*parts: str) -> Path:
    """Returns (and creates) a folder under ``results/`` (or ``$LATENT_NAS_RESULTS``)."""
    root = Path(os.environ.get(RESULTS_ENV_VAR) or PROJECT_ROOT / "results")
    folder = root.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
