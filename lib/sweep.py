"""Runs a grid of searches (benchmark × dataset × method × seed) and stores every run.

    python -m lib.sweep --benchmark nb201 --datasets cifar10,cifar100 \\
        --methods random,evolution --seeds 0-9 --budgets 50,100,150,200 --workers 2
    python -m lib.sweep --benchmark nbgraph:cora --methods arch2vec_bo \\
        --grid arch2vec_bo.pretrain_seed=0,1,2 --seeds 0-3   # 3 pretraining seeds × 4 search seeds

Each (benchmark, dataset, method, seed) is run once (once per value of a
``--grid``), at the largest budget;
the smaller budgets are prefixes of that run (every baseline is anytime, see
:mod:`lib.search.store`). Runs already stored are skipped, so an interrupted
sweep resumes where it stopped. Execution:

* default — a local process pool (``concurrent.futures``) of ``--workers``;
* ``--local-cluster`` — a Dask ``LocalCluster`` on this machine;
* ``--scheduler tcp://host:8786`` — an existing Dask cluster (its workers
  need this project installed; results travel back to this process, which
  writes them, so workers need no shared filesystem).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lib.benchmark import available_benchmarks, resolve_dataset
from lib.config import parse_int_list
from lib.errors import UnknownBenchmarkError
from lib.search.registry import available_methods, get_method, resolve_hyperparameters
from lib.search.store import ResultStore, RunKey


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep."""

    benchmark: str
    dataset: str
    method: str
    budget: int
    seed: int
    hyperparameters: dict[str, Any] = field(default_factory=dict, hash=False)
    config_hash: str | None = field(default=None, compare=False)
    """The run identity's hash, once :func:`prepare_grid` has computed it in the parent process."""

    def key(self) -> RunKey:
        if self.config_hash is not None:
            return RunKey(self.benchmark, self.dataset, self.method, self.budget, self.seed, self.config_hash)
        return ResultStore.key(load_cached_benchmark(self.benchmark, self.dataset), self.method, self.budget,
                               self.seed, **self.hyperparameters)  # fmt: skip

    def label(self) -> str:
        return f"{self.benchmark}/{self.dataset}/{self.method}/b{self.budget}/s{self.seed}"


def parse_benchmarks(benchmarks: str, datasets: str | None = None) -> list[tuple[str, str]]:
    """``"nb201,nbgraph:cora"`` (+ ``datasets`` for entries without ``:``) → ``[(name, dataset), ...]``.

    ``datasets="all"`` takes every dataset of each benchmark.

    Names and datasets follow :func:`lib.benchmark.resolve_dataset`, the rule
    of :func:`~lib.benchmark.load_benchmark` too (registered tables included).

    Raises:
        ValueError: Unknown benchmark or dataset (the message of
            :func:`~lib.benchmark.resolve_dataset`).
    """
    known = available_benchmarks()
    pairs: list[tuple[str, str]] = []
    try:
        for entry in [e.strip() for e in benchmarks.split(",") if e.strip()]:
            name, _, dataset = entry.partition(":")
            name, _ = resolve_dataset(name, dataset or None)
            if dataset:
                chosen = [dataset]
            elif datasets == "all":
                chosen = list(known[name])
            elif datasets:
                chosen = [d.strip() for d in datasets.split(",") if d.strip()]
            else:
                chosen = [None]
            pairs.extend(resolve_dataset(name, ds) for ds in chosen)
    except UnknownBenchmarkError as exc:
        raise ValueError(str(exc)) from None
    return list(dict.fromkeys(pairs))


def build_grid(
    pairs: Iterable[tuple[str, str]],
    methods: Iterable[str],
    seeds: Iterable[int],
    budgets: Iterable[int],
    hyperparameters: dict[str, dict[str, Any]] | None = None,
    grid: dict[str, dict[str, list[Any]]] | None = None,
) -> list[RunSpec]:
    """The runs of a sweep: one per (benchmark, dataset, method, hyper-parameter setting, seed).

    Anytime methods run once at the largest budget (smaller budgets are its
    prefixes); a method that is not anytime runs at every budget.

    Args:
        pairs, methods, seeds, budgets: What to run.
        hyperparameters: ``{method: {name: value}}`` overrides of every run of a method.
        grid: ``{method: {name: [values]}}``: the method runs once per
            combination of these values (their product, in order), each with
            ``hyperparameters`` too, e.g. ``{"arch2vec_bo": {"pretrain_seed": [0, 1, 2]}}``
            (:func:`expand_grid`).

    Raises:
        ValueError: A grid that names a method not in ``methods``, gives no
            values, repeats a value, or sets a hyper-parameter that
            ``hyperparameters`` sets too.
    """
    budgets = sorted(set(int(b) for b in budgets))
    methods = list(methods)
    settings = expand_grid(methods, hyperparameters, grid)
    runs = []
    for name, dataset in pairs:
        for method in methods:
            runs_at = [budgets[-1]] if getattr(get_method(method), "anytime", True) else budgets
            for hps in settings[method]:
                for seed in seeds:
                    for budget in runs_at:
                        runs.append(RunSpec(name, dataset, method, budget, int(seed), dict(hps)))
    return runs


def expand_grid(methods: Iterable[str], hyperparameters: dict[str, dict[str, Any]] | None = None,
                grid: dict[str, dict[str, list[Any]]] | None = None) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """Every method's hyper-parameter settings: its overrides, times the product of its grid's values.

    >>> expand_grid(["a", "b"], {"a": {"x": 1}}, {"a": {"y": [0, 1]}})
    {'a': [{'x': 1, 'y': 0}, {'x': 1, 'y': 1}], 'b': [{}]}

    Raises:
        ValueError: As :func:`build_grid`.
    """
    import itertools

    methods = list(methods)
    grid = grid or {}
    unknown = sorted(set(grid) - set(methods))
    if unknown:
        raise ValueError(f"--grid names method(s) {unknown} that the sweep does not run (methods: {methods})")
    out = {}
    for method in methods:
        fixed = dict((hyperparameters or {}).get(method, {}))
        axes = grid.get(method, {})
        for param, values in axes.items():
            values = list(values)
            if not values:
                raise ValueError(f"--grid {method}.{param}: give at least one value")
            texts = [json.dumps(v, sort_keys=True) for v in values]
            if len(set(texts)) != len(texts):
                raise ValueError(f"--grid {method}.{param}: a value is repeated in {values}")
            if param in fixed:
                raise ValueError(f"{method}.{param} is set by --hp and by --grid; give it once")
        names = list(axes)
        out[method] = [fixed | dict(zip(names, combo)) for combo in itertools.product(*(axes[n] for n in names))]
    return out


_BENCHMARKS: dict[tuple[str, str], Any] = {}


def load_cached_benchmark(name: str, dataset: str):
    """The benchmark, loaded once per process (its digest, facts and cells are then computed once)."""
    from lib.benchmark import load_benchmark

    pair = (name, dataset)
    if pair not in _BENCHMARKS:
        _BENCHMARKS[pair] = load_benchmark(*pair)
    return _BENCHMARKS[pair]


def prepare_grid(grid: list[RunSpec], *, progress: bool = True) -> list[RunSpec]:
    """The grid with every run's identity hash, after preparing each method's models here, once.

    For every (benchmark, dataset, method, hyper-parameters) of the grid this
    process loads the benchmark and calls
    :func:`~lib.search.harness.prepare_method`, which pretrains a method's
    model (with the fixed thread count of :mod:`lib.arch2vec.train`) or loads
    it from the cache. Workers then load that one cached checkpoint instead of
    each training its own, and the store is asked about runs whose identity
    includes the model's digest and the table's content digest.
    """
    from lib.search.harness import config_hash, prepare_method, run_identity

    hashes: dict[tuple, str] = {}
    prepared = []
    groups = list(dict.fromkeys((s.benchmark, s.dataset, s.method, json.dumps(s.hyperparameters, sort_keys=True))
                                for s in grid))  # fmt: skip
    for name, dataset, method, hps in groups:
        bench = load_cached_benchmark(name, dataset)
        params = json.loads(hps)
        if progress and getattr(get_method(method), "prepare", None) is not None:
            print(f"preparing {method} on {name}/{dataset} ...", flush=True)
        model = prepare_method(bench, method, params)
        hashes[(name, dataset, method, hps)] = config_hash(run_identity(bench, method, params, model))
    for spec in grid:
        group = (spec.benchmark, spec.dataset, spec.method, json.dumps(spec.hyperparameters, sort_keys=True))
        prepared.append(replace(spec, config_hash=hashes[group]))
    return prepared


def execute(spec: RunSpec) -> str:
    """Runs one search in a worker and returns the trajectory as JSON text.

    Benchmarks are loaded once per worker process. The caller stores the
    result, so workers on a cluster need no access to the results folder.

    Raises:
        RuntimeError: The run's identity differs from the one the parent
            computed (the worker has another table or model than the parent).
    """
    from lib.search.harness import run_search

    bench = load_cached_benchmark(spec.benchmark, spec.dataset)
    trajectory = run_search(bench, spec.method, spec.budget, spec.seed, **spec.hyperparameters)
    if spec.config_hash is not None and trajectory.metadata["config_hash"] != spec.config_hash:
        raise RuntimeError(
            f"{spec.label()}: the worker's run identity {trajectory.metadata['config_hash']} differs from the "
            f"parent's {spec.config_hash} (another table or model version on the worker; "
            f"worker model: {trajectory.metadata.get('model')})"
        )
    return trajectory.to_json()


@dataclass
class SweepReport:
    """What a sweep did."""

    total: int
    skipped: int
    completed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    wall_time_s: float = 0.0

    def __str__(self) -> str:
        text = (f"{self.total} runs: {self.skipped} already stored, {len(self.completed)} run now, "
                f"{len(self.failed)} failed, {self.wall_time_s:.1f} s")  # fmt: skip
        for label, error in self.failed.items():
            text += f"\n  FAILED {label}: {error}"
        return text


def run_sweep(
    grid: list[RunSpec],
    store: ResultStore | None = None,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    local_cluster: bool = False,
    dask_processes: bool = True,
    progress: bool = True,
    mp_context: str | None = None,
) -> SweepReport:
    """Runs the grid's missing runs and stores them.

    Args:
        grid: Runs from :func:`build_grid`.
        store: Where runs are stored (default ``results/runs``).
        workers: Parallel workers (1 runs in this process; ignored with ``scheduler``).
        scheduler: Address of a Dask scheduler to run on.
        local_cluster: Start a Dask ``LocalCluster`` of ``workers`` workers.
        dask_processes: Must stay ``True``: the local cluster's workers are
            processes with one thread each. Threads of one process share the
            global numpy/torch/``random`` seeding and torch's thread pool, so
            seeded runs in threads are not reproducible and are refused.
        progress: Show a tqdm progress bar.
        mp_context: Start method of the local process pool's workers
            (``"spawn"``, ``"forkserver"``, ``"fork"``; default ``"spawn"``,
            see :data:`DEFAULT_START_METHOD`: forked workers of a parent that
            has run torch on several threads hang). Spawned workers share
            nothing with this process but the files: they load benchmarks
            (registered tables too) and models from disk.

    Returns:
        A :class:`SweepReport`; failed runs are listed, not raised: a run that
        raised, a cancelled Dask task, a lost worker, a dead pool process.

    Raises:
        ValueError: ``dask_processes=False``, or a Dask scheduler with a
            worker that runs more than one thread.
    """
    from tqdm.auto import tqdm

    if (scheduler or local_cluster) and not dask_processes:
        raise ValueError(
            "dask_processes=False would run seeded searches as threads of one process, which share the global "
            "numpy/torch/random seeding and torch's thread pool, so the runs would depend on scheduling; "
            "run the local cluster's workers as processes (dask_processes=True, the default)"
        )
    store = store or ResultStore()
    started = time.perf_counter()
    grid = prepare_grid(grid, progress=progress)
    todo = [spec for spec in grid if not store.has(spec.key())]
    report = SweepReport(total=len(grid), skipped=len(grid) - len(todo))
    bar = tqdm(total=len(todo), desc="sweep", unit="run", disable=not progress or not todo)

    def finish(spec: RunSpec, result: str | None, error: BaseException | None) -> None:
        if error is not None:
            report.failed[spec.label()] = f"{type(error).__name__}: {error}"
        else:
            from lib.search.trajectory import Trajectory

            store.put(Trajectory.from_dict(json.loads(result)))
            report.completed.append(spec.label())
        bar.update(1)

    if todo and (scheduler or local_cluster):
        _run_dask(todo, finish, workers=workers, scheduler=scheduler)
    elif todo and workers > 1:
        _run_pool(todo, finish, workers=workers, mp_context=mp_context)
    else:
        for spec in todo:
            try:
                result = execute(spec)
            except Exception as exc:  # reported, the sweep goes on
                finish(spec, None, exc)
            else:
                finish(spec, result, None)
    bar.close()
    report.wall_time_s = time.perf_counter() - started
    return report


class RunCancelledError(RuntimeError):
    """A run's task was cancelled (by the scheduler, another client or a lost connection) before it finished."""


class WorkerDiedError(RuntimeError):
    """A pool process died (killed, out of memory, a crash in native code), taking its runs with it."""


def _outcome(future: Any) -> tuple[str | None, BaseException | None]:
    """``(result, None)`` or ``(None, error)`` of a finished future; never raises (a cancelled one is an error)."""
    if future.cancelled():
        return None, RunCancelledError("its task was cancelled before it finished; the run was not stored, "
                                       "rerun the sweep to run it (stored runs are skipped)")  # fmt: skip
    try:
        return future.result(), None
    except Exception as exc:  # CancelledError too, should it come from result()
        return None, exc


DEFAULT_START_METHOD = "spawn"
"""How the local pool starts its workers when the caller does not say.

Not ``fork`` (Linux's default): a sweep's parent runs torch before it
dispatches (it pretrains or loads every method's model), and a process forked
from a parent whose OpenMP thread team exists hangs in its first parallel
torch operation (libgomp is not fork-safe; seen as workers idle in
``gomp_team_barrier_wait_end``). Spawned workers start clean and load
benchmarks and models from disk."""


def worker_threads(workers: int) -> int:
    """Torch/OpenMP threads per pool worker: the machine's cores shared out, at least one.

    torch starts one thread per core in every process, so ``workers`` processes
    would run ``workers × cores`` spinning OpenMP threads on ``cores`` cores; on
    two cores with two workers that made arch2vec runs about twice as slow.
    """
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _init_worker(threads: int) -> None:
    """Pool initializer: caps this worker's torch and OpenMP/BLAS threads (and its children's)."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)


def pool_executor(workers: int, mp_context: str | None = None, threads: int | None = None) -> ProcessPoolExecutor:
    """A process pool of ``workers`` processes started by ``mp_context`` (default :data:`DEFAULT_START_METHOD`).

    Args:
        workers: Number of processes.
        mp_context: ``"spawn"``, ``"forkserver"`` or ``"fork"``.
        threads: Torch threads per worker (default :func:`worker_threads`).
            Pretraining sets its own fixed thread count, so models do not
            depend on it.

    Raises:
        ValueError: ``mp_context`` is not a start method of this platform, or
            ``threads`` < 1.
    """
    import multiprocessing

    threads = worker_threads(workers) if threads is None else int(threads)
    if threads < 1:
        raise ValueError(f"threads per worker must be at least 1, got {threads}")
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(mp_context or DEFAULT_START_METHOD),
                               initializer=_init_worker, initargs=(threads,))  # fmt: skip


def _run_pool(todo: list[RunSpec], finish: Callable, *, workers: int, mp_context: str | None = None) -> None:
    """Runs ``todo`` on a local process pool; a dead pool process fails the runs it took down, nothing more."""
    from concurrent.futures.process import BrokenProcessPool

    broken = WorkerDiedError(
        "a process of the pool died while this run was running or queued (killed, out of memory, or a crash in "
        "native code) and the pool stopped; rerun the sweep to run it (stored runs are skipped), with fewer "
        "--workers if memory is short"
    )  # fmt: skip
    with pool_executor(workers, mp_context) as pool:
        futures = {}
        for i, spec in enumerate(todo):
            try:
                futures[pool.submit(execute, spec)] = spec
            except BrokenProcessPool:  # the pool broke while we were still submitting
                for rest in todo[i:]:
                    finish(rest, None, broken)
                break
        for future in as_completed(futures):
            result, error = _outcome(future)
            finish(futures[future], result, broken if isinstance(error, BrokenProcessPool) else error)


def _execute_on_dask(spec: RunSpec) -> str:
    """:func:`execute` on a Dask worker, refused on a worker that runs several threads (shared global seeding)."""
    from distributed import get_worker

    threads = get_worker().state.nthreads
    if threads > 1:
        raise RuntimeError(f"this Dask worker runs {threads} threads; {_ONE_THREAD}")
    return execute(spec)


_ONE_THREAD = ("threads of one process share the global numpy/torch/random seeding and torch's thread pool, so "
               "seeded runs would not be reproducible: start the workers with one thread each, e.g. "
               "`dask worker SCHEDULER_ADDRESS --nthreads 1 --nworkers N`")  # fmt: skip


def _check_one_thread_per_worker(client: Any, scheduler: str) -> None:
    """Raises a ValueError naming the scheduler's workers that run more than one thread."""
    workers = client.scheduler_info().get("workers", {})
    threaded = {address: info.get("nthreads", 1) for address, info in workers.items() if info.get("nthreads", 1) > 1}
    if threaded:
        shown = ", ".join(f"{address} ({n} threads)" for address, n in list(threaded.items())[:5])
        raise ValueError(f"{len(threaded)} worker(s) of the Dask scheduler {scheduler} run several threads: {shown}; "
                         + _ONE_THREAD.replace("SCHEDULER_ADDRESS", scheduler))  # fmt: skip


def _run_dask(todo: list[RunSpec], finish: Callable, *, workers: int, scheduler: str | None) -> None:
    """Runs ``todo`` on Dask: a task per run; a failed, cancelled or lost task fails its run only."""
    from distributed import Client, LocalCluster, as_completed as dask_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                               dashboard_address=None)  # fmt: skip
        client = Client(cluster)
    try:
        if scheduler:
            _check_one_thread_per_worker(client, scheduler)
        futures = {client.submit(_execute_on_dask, spec, pure=False,
                                 key=f"run-{spec.label()}-{spec.key().config_hash}"): spec
                   for spec in todo}  # fmt: skip
        for future in dask_completed(list(futures)):
            result, error = _outcome(future)  # an erred task (a lost worker: KilledWorker) or a cancelled one
            finish(futures[future], result, error)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _parse_hyperparameters(items: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        name, _, value = item.partition("=")
        method, _, param = name.partition(".")
        if not value or not param:
            raise ValueError(f"--hp expects METHOD.NAME=VALUE (VALUE as JSON), got {item!r}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        found.setdefault(method, {})[param] = parsed
    return found


def parse_grid(items: list[str]) -> dict[str, dict[str, list[Any]]]:
    """``["arch2vec_bo.pretrain_seed=0,1,2"]`` → ``{"arch2vec_bo": {"pretrain_seed": [0, 1, 2]}}`` (each value JSON)."""
    found: dict[str, dict[str, list[Any]]] = {}
    for item in items:
        name, _, value = item.partition("=")
        method, _, param = name.partition(".")
        if not value or not param or not method:
            raise ValueError(f"--grid expects METHOD.NAME=V1,V2,... (each value as JSON), got {item!r}")
        if param in found.get(method, {}):
            raise ValueError(f"--grid {method}.{param} is given twice")
        values = []
        for text in value.split(","):
            if not text.strip():
                raise ValueError(f"--grid {item!r}: an empty value (write METHOD.NAME=V1,V2,...)")
            try:
                values.append(json.loads(text))
            except json.JSONDecodeError:
                values.append(text.strip())
        found.setdefault(method, {})[param] = values
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.sweep", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--benchmark", "--benchmarks", dest="benchmarks", default="nbgraph",
                        help="benchmarks, comma separated; NAME or NAME:DATASET (default nbgraph)")
    parser.add_argument("--datasets", default=None,
                        help="datasets for benchmarks given without ':' (comma separated, or 'all')")
    parser.add_argument("--methods", default="random,evolution,local_search,bananas")
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,1,5")
    parser.add_argument("--budgets", default="200", help="query budgets; anytime methods run at the largest")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--scheduler", default=None, help="address of a Dask scheduler, e.g. tcp://host:8786")
    parser.add_argument("--local-cluster", action="store_true", help="run on a Dask LocalCluster")
    parser.add_argument("--results-root", default=None, help="folder of stored runs (default results/runs)")
    parser.add_argument("--hp", action="append", default=[], metavar="METHOD.NAME=VALUE",
                        help="hyper-parameter override, repeatable (VALUE is JSON)")
    parser.add_argument("--grid", action="append", default=[], metavar="METHOD.NAME=V1,V2,...",
                        help="run the method once per value (each JSON), repeatable: several grids give their "
                             "product, e.g. arch2vec_bo.pretrain_seed=0,1,2")
    parser.add_argument("--objectives", default=None, metavar="val_acc,COST[,COST]",
                        help="multi-objective: passed as `objectives` to every method that takes it "
                             "(e.g. nsga2); the others (random, ...) run as they are")
    parser.add_argument("--constraint", default=None, metavar="COST<=BOUND",
                        help="passed as `constraint` to every method that takes it, e.g. latency_pixel3_ms<=5")
    parser.add_argument("--dry-run", action="store_true", help="list the runs that would execute and stop")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        pairs = parse_benchmarks(args.benchmarks, args.datasets)
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = sorted(set(methods) - set(available_methods()))
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; known: {available_methods()}")
        overrides = _parse_hyperparameters(args.hp)
        if args.objectives is not None or args.constraint is not None:
            from lib.search.multiobjective import sweep_overrides

            overrides = sweep_overrides(overrides, methods, pairs, objectives=args.objectives,
                                        constraint=args.constraint)  # fmt: skip
        grid = build_grid(pairs, methods, parse_int_list(args.seeds), parse_int_list(args.budgets, min=1),
                          overrides, parse_grid(args.grid))  # fmt: skip
        for spec in {(s.method, json.dumps(s.hyperparameters, sort_keys=True)): s for s in grid}.values():
            resolve_hyperparameters(spec.method, spec.hyperparameters)  # an unknown name fails here, not in a worker
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    store = ResultStore(Path(args.results_root) if args.results_root else None)
    if args.dry_run:
        for spec in grid:
            print(("stored  " if store.has(spec.key()) else "to run  ") + spec.label())
        return 0
    try:
        report = run_sweep(grid, store, workers=args.workers, scheduler=args.scheduler,
                           local_cluster=args.local_cluster, progress=not args.no_progress)  # fmt: skip
    except ValueError as exc:  # a refused setup, e.g. a Dask scheduler whose workers run several threads
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report)
    print(f"results in {store.root}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
