"""Stored search runs under ``results/runs/``, one JSON file per run.

A run is keyed by (benchmark, dataset, method, budget, seed, config hash) and
lives at ``<root>/<benchmark>/<dataset>/<method>/b<budget>_s<seed>_<hash>.json``.
The folder listing is the index; there is no shared index file to corrupt.

* A rerun with the same key loads the stored run instead of searching.
* A smaller budget is served from the prefix of a stored larger run when the
  method is anytime (all baselines are): sweeps record the largest budget only.
* Writers never see half a file: each run is written to a temporary file in
  the same folder and renamed over the target (``os.replace`` is atomic on
  POSIX). Two sweeps that compute the same run write equivalent files (same
  queries, different wall times) and the last rename wins; nothing is lost.
* An interrupted sweep leaves only complete runs (and possibly hidden
  ``.*.tmp`` files, which are ignored), so rerunning it resumes.
* A stored file that cannot be read (truncated by a full disk or an
  interrupted copy, edited by hand) is skipped with a :class:`CorruptRunWarning`
  naming it: :meth:`ResultStore.has` treats it as absent, so a sweep reruns the
  run and the atomic write replaces the file.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib.paths import results_dir
from lib.search.harness import config_hash, parse_benchmark, prepare_method, run_identity, run_search
from lib.search.registry import get_method
from lib.search.trajectory import Trajectory

_PREPARE = object()  # sentinel: prepare the method's model to learn its identity

_NAME = re.compile(r"^b(?P<budget>\d+)_s(?P<seed>-?\d+)_(?P<hash>[0-9a-f]+)\.json$")


class CorruptRunWarning(UserWarning):
    """A stored run file could not be read and is treated as absent."""


@dataclass(frozen=True)
class RunKey:
    """Identity of a stored run."""

    benchmark: str
    dataset: str
    method: str
    budget: int
    seed: int
    config_hash: str


class ResultStore:
    """A folder of stored runs.

    Args:
        root: The folder; default ``results/runs`` (``$LATENT_NAS_RESULTS/runs``).
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else results_dir("runs")
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: RunKey) -> Path:
        return (self.root / key.benchmark / key.dataset / key.method
                / f"b{key.budget}_s{key.seed}_{key.config_hash}.json")  # fmt: skip

    @staticmethod
    def key(benchmark: Any, method: str, budget: int, seed: int, *, model: Any = _PREPARE,
            **hyperparameters: Any) -> RunKey:  # fmt: skip
        """The key of a run: its :func:`~lib.search.harness.run_identity` hashed.

        Args:
            benchmark: A :class:`~lib.benchmark.Benchmark` or ``"name:dataset"``
                (its table's content digest is part of the identity).
            model: The method's model identity if already known (from
                :func:`~lib.search.harness.prepare_method`); by default it is
                prepared here, which trains the model once if it is not cached.
        """
        bench = parse_benchmark(benchmark)
        if model is _PREPARE:
            model = prepare_method(bench, method, hyperparameters)
        identity = run_identity(bench, method, hyperparameters, model)
        return RunKey(bench.name, bench.dataset, method, int(budget), int(seed), config_hash(identity))

    @staticmethod
    def key_of(trajectory: Trajectory) -> RunKey:
        m = trajectory.metadata
        return RunKey(m["benchmark"], m["dataset"], m["method"], int(m["budget"]), int(m["seed"]), m["config_hash"])

    def put(self, trajectory: Trajectory) -> Path:
        """Saves a run atomically (replacing an equivalent stored one)."""
        return trajectory.save(self.path(self.key_of(trajectory)))

    def get(self, key: RunKey, *, allow_prefix: bool = True) -> Trajectory | None:
        """The stored run with this key, or its prefix from a larger stored run, or ``None``.

        Args:
            allow_prefix: Serve a smaller budget from the smallest stored larger
                run of an anytime method.
        """
        exact = self._read(self.path(key))
        if exact is not None:
            return exact
        if not allow_prefix or not getattr(get_method(key.method), "anytime", True):
            return None
        for source in sorted((k for k in self._keys_like(key) if k.budget > key.budget), key=lambda k: k.budget):
            found = self._read(self.path(source))  # an unreadable larger run is skipped: try the next one
            if found is not None:
                return found.prefix(key.budget)
        return None

    def has(self, key: RunKey, *, allow_prefix: bool = True) -> bool:
        """Whether :meth:`get` would find the run.

        The candidate files are read, so a truncated or corrupt file counts as
        absent (with a :class:`CorruptRunWarning`) and a sweep reruns the run.
        """
        return self.get(key, allow_prefix=allow_prefix) is not None

    @staticmethod
    def _read(path: Path) -> Trajectory | None:
        """The trajectory stored at ``path``; ``None`` (with a warning) when it cannot be read, or is missing."""
        try:
            return Trajectory.load(path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:  # JSONDecodeError is a ValueError
            warnings.warn(
                f"skipping the stored run {path}: it cannot be read ({type(exc).__name__}: {exc}); it is probably "
                "truncated (a full disk, an interrupted copy). A sweep that includes this run reruns it and "
                f"replaces the file; to drop it instead, delete it (rm '{path}').",
                CorruptRunWarning, stacklevel=3,
            )  # fmt: skip
            return None

    def _keys_like(self, key: RunKey) -> list[RunKey]:
        return [k for k in self.keys(key.benchmark, key.dataset, key.method)
                if k.seed == key.seed and k.config_hash == key.config_hash]  # fmt: skip

    def run(self, benchmark: Any, method: str, budget: int, seed: int, **hyperparameters: Any) -> Trajectory:
        """The stored run if there is one, else runs the search and stores it.

        Args:
            benchmark: A :class:`~lib.benchmark.Benchmark` or ``"name:dataset"``.
        """
        bench = parse_benchmark(benchmark)
        key = self.key(bench, method, budget, seed, **hyperparameters)
        found = self.get(key)
        if found is not None:
            return found
        trajectory = run_search(bench, method, budget, seed, **hyperparameters)
        self.put(trajectory)
        return trajectory

    def keys(self, benchmark: str | None = None, dataset: str | None = None, method: str | None = None) -> list[RunKey]:
        """Keys of every stored run matching the filters, sorted."""
        found = []
        pattern = f"{benchmark or '*'}/{dataset or '*'}/{method or '*'}/b*_s*_*.json"
        for path in self.root.glob(pattern):
            match = _NAME.match(path.name)
            if match:
                bench, ds, meth = path.parts[-4:-1]
                found.append(RunKey(bench, ds, meth, int(match["budget"]), int(match["seed"]), match["hash"]))
        return sorted(found, key=lambda k: (k.benchmark, k.dataset, k.method, k.config_hash, k.seed, k.budget))

    def load_all(self, benchmark: str | None = None, dataset: str | None = None,
                 method: str | None = None) -> Iterator[Trajectory]:  # fmt: skip
        """Every stored run matching the filters; unreadable files are skipped with a :class:`CorruptRunWarning`."""
        for key in self.keys(benchmark, dataset, method):
            trajectory = self._read(self.path(key))
            if trajectory is not None:
                yield trajectory

    def __repr__(self) -> str:
        return f"ResultStore({self.root})"


class StoredRuns:
    """:func:`~lib.search.harness.run_search` through a :class:`ResultStore`, for notebooks.

    Calling it with a run's arguments loads the stored run of the same
    identity (method, version, resolved hyper-parameters, table digest, model
    digest, seed), or the prefix of a stored larger run of an anytime method;
    only a run that is not stored is searched, and it is then stored. So a
    notebook run after ``make study`` reads the sweeps' runs instead of
    repeating them, and notebooks share their runs with each other.

    Args:
        reuse: ``False`` runs every search afresh and stores nothing (the
            notebooks' ``reuse_runs`` parameter).
        root: The store's folder (default ``results/runs``).

    The counters :attr:`loaded` and :attr:`ran` and :meth:`summary` say how
    many runs were read and how many searched; :attr:`code_versions` counts
    the code versions of the loaded runs (a run stored by older code of the
    same method version is reused: see :mod:`lib.search.audit`).
    """

    def __init__(self, reuse: bool = True, root: str | Path | None = None):
        self.store = ResultStore(root) if reuse else None
        self.loaded = 0
        self.ran = 0
        self.code_versions: Counter[str] = Counter()

    def __call__(self, benchmark: Any, method: str, budget: int, seed: int, **hyperparameters: Any) -> Trajectory:
        bench = parse_benchmark(benchmark)
        if self.store is None:
            self.ran += 1
            return run_search(bench, method, budget, seed, **hyperparameters)
        key = self.store.key(bench, method, budget, seed, **hyperparameters)
        found = self.store.get(key)
        if found is not None:
            self.loaded += 1
            self.code_versions[str(found.metadata.get("code_version", "unknown"))] += 1
            return found
        trajectory = run_search(bench, method, budget, seed, **hyperparameters)
        self.store.put(trajectory)
        self.ran += 1
        return trajectory

    def summary(self) -> str:
        """One line: runs loaded (and their code versions) and runs searched now."""
        if self.store is None:
            return f"{self.ran} runs searched now (stored runs not reused)"
        versions = ", ".join(f"{v} ×{n}" for v, n in self.code_versions.most_common())
        return (f"{self.loaded} runs loaded from {self.store.root}" + (f" (code {versions})" if versions else "")
                + f", {self.ran} searched now and stored there")
