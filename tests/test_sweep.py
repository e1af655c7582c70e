"""Sweeps: grid building, resume, process pool, Dask LocalCluster, the CLI and the results notebook's parameters."""

from __future__ import annotations

import json
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


def test_tiny_sweep_on_a_dask_local_cluster(tmp_path):
    grid = build_grid(CORA, ["random", "evolution"], [0, 1], [8])
    store = ResultStore(tmp_path)
    report = run_sweep(grid, store, workers=1, local_cluster=True, dask_processes=False, progress=False)
    assert len(report.completed) == 4 and not report.failed
    reference = run_sweep(grid, ResultStore(tmp_path / "ref"), progress=False)
    assert len(reference.completed) == 4
    for spec in grid:
        assert store.get(spec.key()).same_queries(ResultStore(tmp_path / "ref").get(spec.key()))


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
