"""Sweeps: grid building, resume, process pool, Dask LocalCluster, the CLI and the results notebook's parameters."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat
import pytest

from lib.paths import PROJECT_ROOT
from lib.search.store import ResultStore
from lib.sweep import RunSpec, build_grid, main, parse_benchmarks, parse_int_list, run_sweep

CORA = [("nbgraph", "cora")]


def test_parse_int_list():
    assert parse_int_list("0-3,7,2") == [0, 1, 2, 3, 7]
    assert parse_int_list("200") == [200]
    with pytest.raises(ValueError, match="range"):
        parse_int_list("3-1")
    with pytest.raises(ValueError):
        parse_int_list("a")


def test_parse_benchmarks():
    assert parse_benchmarks("nbgraph") == [("nbgraph", "cora")]
    assert parse_benchmarks("nb201,nbgraph:pubmed", "cifar10,cifar100") == [
        ("nb201", "cifar10"), ("nb201", "cifar100"), ("nbgraph", "pubmed")]  # fmt: skip
    assert len(parse_benchmarks("nb201", "all")) == 3
    with pytest.raises(ValueError, match="no dataset"):
        parse_benchmarks("nb201", "mnist")
    with pytest.raises(ValueError, match="unknown benchmark"):
        parse_benchmarks("nb999")


def test_grid_runs_anytime_methods_once_at_the_largest_budget():
    grid = build_grid(CORA, ["random", "evolution"], [0, 1, 2], [50, 200, 100])
    assert len(grid) == 6 and {spec.budget for spec in grid} == {200}


def test_sweep_resumes_and_serves_smaller_budgets(tmp_path):
    store = ResultStore(tmp_path)
    first = run_sweep(build_grid(CORA, ["random"], [0, 1], [12]), store, progress=False)
    assert len(first.completed) == 2 and not first.failed
    grid = build_grid(CORA, ["random", "evolution"], [0, 1, 2], [12])
    second = run_sweep(grid, store, progress=False)  # "interrupted" sweep picked up again
    assert second.skipped == 2 and len(second.completed) == 4
    third = run_sweep(build_grid(CORA, ["random", "evolution"], [0, 1, 2], [6, 12]), store, progress=False)
    assert third.skipped == 6 and not third.completed
    assert store.get(RunSpec("nbgraph", "cora", "evolution", 6, 1).key()).budget == 6


def test_failed_runs_are_reported_not_raised(tmp_path):
    grid = [RunSpec("nbgraph", "cora", "evolution", 5, 0, {"population_size": 2, "sample_size": 3})]
    report = run_sweep(grid, ResultStore(tmp_path), progress=False)
    assert "sample_size" in next(iter(report.failed.values()))


def test_process_pool_gives_the_same_runs_as_in_process(tmp_path):
    grid = build_grid(CORA, ["random", "local_search"], [0, 1], [10])
    serial, pooled = ResultStore(tmp_path / "serial"), ResultStore(tmp_path / "pooled")
    run_sweep(grid, serial, progress=False)
    report = run_sweep(grid, pooled, workers=2, progress=False)
    assert len(report.completed) == 4
    for spec in grid:
        assert serial.get(spec.key()).same_queries(pooled.get(spec.key()))


def test_dask_local_cluster_of_processes_gives_the_serial_runs_arch2vec_too(tmp_path):
    # arch2vec with a 1-epoch model (cached under data/cache after the first time): the worker process loads
    # the checkpoint the parent prepared and must query exactly what the serial run queried
    fast = {"pretrain_epochs": 1}
    grid = (build_grid(CORA, ["random", "evolution"], [0, 1], [8])
            + build_grid(CORA, ["arch2vec_bo"], [0, 1], [20], {"arch2vec_bo": fast}))  # fmt: skip
    serial, dask = ResultStore(tmp_path / "serial"), ResultStore(tmp_path / "dask")
    assert len(run_sweep(grid, serial, progress=False).completed) == 6
    report = run_sweep(grid, dask, workers=1, local_cluster=True, progress=False)  # time: each process builds the 26k-cell pool
    assert len(report.completed) == 6 and not report.failed, report
    for spec in grid:
        assert serial.get(spec.key()).same_queries(dask.get(spec.key())), spec.label()


def test_dask_threads_are_refused_for_seeded_runs(tmp_path):
    grid = build_grid(CORA, ["random"], [0], [4])
    with pytest.raises(ValueError, match="threads of one process.*dask_processes=True"):
        run_sweep(grid, ResultStore(tmp_path), local_cluster=True, dask_processes=False, progress=False)
    assert not ResultStore(tmp_path).keys()


def test_a_scheduler_with_threaded_workers_is_refused(tmp_path, capsys):
    from distributed import Client, LocalCluster

    from lib.sweep import _execute_on_dask

    grid = build_grid(CORA, ["random"], [0], [4])
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster:
        with pytest.raises(ValueError, match=r"run several threads.*`dask worker \S+ --nthreads 1"):
            run_sweep(grid, ResultStore(tmp_path), scheduler=cluster.scheduler_address, progress=False)
        args = ["--benchmark", "nbgraph:cora", "--methods", "random", "--seeds", "0", "--budgets", "4",
                "--scheduler", cluster.scheduler_address, "--results-root", str(tmp_path), "--no-progress"]  # fmt: skip
        assert main(args) == 2 and "--nthreads 1" in capsys.readouterr().err  # a message, not a traceback
        with Client(cluster) as client:  # a threaded worker that joins later: each task refuses it too
            with pytest.raises(RuntimeError, match="runs 2 threads.*--nthreads 1"):
                client.submit(_execute_on_dask, grid[0], pure=False).result()
    assert not ResultStore(tmp_path).keys()


class _CancellingStore(ResultStore):
    """Cancels the task of seed 2 when the first run comes back (as a scheduler or another client might)."""

    cancelled: list = []

    def put(self, trajectory):
        from distributed import Future, default_client

        if not self.cancelled:
            client = default_client()  # the sweep's client
            self.cancelled += [key for key in client.futures if "/s2-" in str(key)]
            client.cancel([Future(key, client) for key in self.cancelled])
        return super().put(trajectory)


def test_a_cancelled_dask_task_fails_its_run_only(tmp_path):
    from distributed import LocalCluster

    grid = build_grid(CORA, ["random"], [0, 1, 2], [8])
    store = _CancellingStore(tmp_path)
    store.cancelled = []
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        report = run_sweep(grid, store, scheduler=cluster.scheduler_address, progress=False)
    assert len(store.cancelled) == 1
    assert list(report.failed) == ["nbgraph/cora/random/b8/s2"] and len(report.completed) == 2
    assert "cancelled" in report.failed["nbgraph/cora/random/b8/s2"] and "rerun the sweep" in report.failed[
        "nbgraph/cora/random/b8/s2"]  # fmt: skip
    assert len(run_sweep(grid, ResultStore(tmp_path), progress=False).completed) == 1  # the rerun picks it up


def test_a_dead_pool_process_fails_its_runs_with_a_clear_message(tmp_path):
    import os

    from lib.search import register_method, registry

    @register_method("_test_dies")
    class Dies:
        def search(self, oracle, rng):
            os._exit(3)  # as the out-of-memory killer would

    try:
        grid = build_grid(CORA, ["_test_dies"], [0, 1, 2], [4])
        # fork: the workers inherit the test-only method (spawned ones would not know it)
        report = run_sweep(grid, ResultStore(tmp_path), workers=2, progress=False, mp_context="fork")
    finally:
        registry._REGISTRY.pop("_test_dies", None)
    assert len(report.failed) == 3 and not report.completed
    assert all(e.startswith("WorkerDiedError: a process of the pool died") and "rerun the sweep" in e
               for e in report.failed.values())  # fmt: skip


def test_a_corrupt_stored_run_is_rerun_and_replaced(tmp_path):
    from lib.search.store import CorruptRunWarning

    grid = build_grid(CORA, ["random"], [0, 1], [6])
    store = ResultStore(tmp_path)
    run_sweep(grid, store, progress=False)
    path = store.path(grid[0].key())
    good = path.read_text()
    path.write_text(good[: len(good) // 2])  # truncated (a full disk, an interrupted copy)
    with pytest.warns(CorruptRunWarning, match="rerun"):
        report = run_sweep(grid, store, progress=False)
    assert report.skipped == 1 and report.completed == [grid[0].label()]
    assert json.loads(path.read_text())["metadata"]["seed"] == 0


def test_cli_main_and_dry_run(tmp_path, capsys):
    args = ["--benchmark", "nbgraph:cora", "--methods", "random", "--seeds", "0-1", "--budgets", "6",
            "--workers", "1", "--results-root", str(tmp_path), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    assert "2 run now" in capsys.readouterr().out
    assert main([*args, "--dry-run"]) == 0
    assert capsys.readouterr().out.count("stored") == 2
    with pytest.raises(SystemExit):
        main([*args, "--methods", "nonsense"])


def test_cli_as_a_module(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lib.sweep", "--benchmark", "nbgraph:cora", "--methods", "evolution",
         "--seeds", "0", "--budgets", "5", "--workers", "1", "--results-root", str(tmp_path), "--no-progress",
         "--hp", "evolution.population_size=4"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (trajectory,) = ResultStore(tmp_path).load_all()
    assert trajectory.metadata["hyperparameters"]["population_size"] == 4


def test_results_notebook_ci_parameters_exist():
    papermill = pytest.importorskip("papermill")
    path = PROJECT_ROOT / "notebooks" / "06_results.ipynb"
    notebook = nbformat.read(path, as_version=4)
    cells = [c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1
    declared = papermill.inspect_notebook(str(path))  # what papermill can parse, with types
    lines = [line for line in cells[0].source.splitlines() if line.strip() and not line.startswith("#")]
    assert len(declared) == len(lines), "papermill cannot parse every parameter line (no '=' in comments)"
    ci = json.loads((PROJECT_ROOT / "notebooks" / "ci" / "06_results.json").read_text())["parameters"]
    for name, value in ci.items():
        assert name in declared, f"CI passes {name!r}, which the notebook does not declare"
        assert type(value).__name__ == declared[name]["inferred_type_name"], name
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), "commit without outputs"


_FORKED_TORCH_SCRIPT = """
import sys

import torch


def work(n):
    return float((torch.ones(n, n) + 1).triu().sum())


if __name__ == "__main__":
    sys.path.insert(0, sys.argv[1])
    from lib.sweep import pool_executor

    torch.set_num_threads(2)
    work(2000)  # as a sweep's parent does when it pretrains: its OpenMP thread team now exists
    with pool_executor(2) as pool:
        print(pool.submit(work, 2000).result())
"""


def test_pool_workers_run_torch_after_the_parent_did(tmp_path):
    # a forked worker of a parent that has run torch on two threads hangs in its first parallel op (libgomp is
    # not fork-safe): the default start method must not fork
    from lib.paths import PROJECT_ROOT

    script = tmp_path / "forked_torch.py"
    script.write_text(_FORKED_TORCH_SCRIPT)
    try:
        done = subprocess.run([sys.executable, str(script), str(PROJECT_ROOT)], capture_output=True, text=True,
                              timeout=600)  # fmt: skip  (seconds when it works; generous for a loaded machine)
    except subprocess.TimeoutExpired:
        pytest.fail("a pool worker hung in torch after the parent ran torch on two threads (forked workers?)")
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.split()[-1]) == 2.0 * 2000 * 2001 / 2


def test_pool_workers_share_out_the_cores():
    import torch

    from lib.sweep import pool_executor, worker_threads

    assert worker_threads(1) == max(1, os.cpu_count() or 1)
    assert worker_threads(10_000) == 1
    with pool_executor(2, threads=1) as pool:
        assert pool.submit(torch.get_num_threads).result(timeout=120) == 1
    with pytest.raises(ValueError, match="at least 1"):
        pool_executor(2, threads=0)
