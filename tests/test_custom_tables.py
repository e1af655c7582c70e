"""Custom tables as real benchmarks: persisted registration, checks at registration, direction, datasets, workers.

Every test points the data folder at ``tmp_path`` (``LATENT_NAS_DATA``), so
descriptors never land in the project's ``data/``. The tables are NB201
arch strings (the space is enumerable without any data file) with made-up
metrics, and one NAS-Bench-Graph table for the JSON cell parser.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lib import benchmark as bm
from lib.benchmark import available_benchmarks, load_benchmark, register_table, registered_tables, unregister_table
from lib.errors import CorruptDataError, DataMissingError, InvalidCellError, NotInBenchmarkError, UnknownBenchmarkError
from lib.paths import PROJECT_ROOT
from lib.search.store import ResultStore
from lib.spaces import NB201Space, NBGraphSpace
from lib.sweep import build_grid, parse_benchmarks, run_sweep

ARCHS = [NB201Space().to_native(c) for c in NB201Space().enumerate()][::97]  # 162 distinct cells


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """A private data folder; process-local registrations and cached tables are forgotten afterwards."""
    folder = tmp_path / "data"
    monkeypatch.setenv("LATENT_NAS_DATA", str(folder))
    yield folder
    bm._CUSTOM.clear()
    bm._TABLES.clear()


def make_table(path, n=60, seed=0, **columns):
    """A CSV of ``n`` NB201 cells with columns arch, val, test (percent) and lat; ``columns`` override them."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"arch": ARCHS[:n], "val": rng.uniform(40, 90, n).round(3),
                          "test": rng.uniform(40, 90, n).round(3), "lat": rng.uniform(1, 5, n).round(3)})  # fmt: skip
    for name, values in columns.items():
        frame[name] = values
    frame.to_csv(path, index=False)
    return frame


def register(path, name="mine", **kwargs):
    options = dict(space="nb201", cell_column="arch", val_column="val", test_column="test",
                   cost_columns={"latency_ms": "lat"})  # fmt: skip
    return register_table(name, path, **(options | kwargs))


def run_python(code, timeout=120):
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                            cwd=PROJECT_ROOT, env=dict(os.environ))  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


# --------------------------------------------------------------------------- persistence


def test_registration_is_a_descriptor_every_process_reads(tmp_path, data_dir):
    frame = make_table(tmp_path / "runs.csv")
    register(tmp_path / "runs.csv")
    descriptor = data_dir / "custom" / "mine.json"
    assert json.loads(descriptor.read_text())["table"]["val_column"] == "val"
    out = run_python("from lib.benchmark import available_benchmarks, load_benchmark; b = load_benchmark('mine'); "
                     "print(available_benchmarks()['mine'], len(b), b.oracle()['best_val_key'])")  # fmt: skip
    assert out.split() == ["('custom',)", "60", frame.loc[frame["val"].idxmax(), "arch"]]
    assert unregister_table("mine") and not descriptor.exists()
    with pytest.raises(UnknownBenchmarkError, match="unknown benchmark 'mine'"):
        load_benchmark("mine")
    assert not unregister_table("mine")


def test_cli_register_list_unregister(tmp_path):
    frame = make_table(tmp_path / "errors.csv")
    cli = [sys.executable, "-m", "lib.benchmark"]
    registered = subprocess.run([*cli, "register", "Errs", str(tmp_path / "errors.csv"), "--space", "nb201",
                                 "--cell-column", "arch", "--val", "val", "--test", "test", "--cost", "latency_ms=lat",
                                 "--minimise", "--dataset", "taskA"],
                                capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    assert "registered errs:taska" in registered.stdout
    bench = load_benchmark("errs")  # this process reads what the other one wrote
    assert bench.dataset == "taska" and bench.oracle()["best_val_key"] == frame.loc[frame["val"].idxmin(), "arch"]
    listed = subprocess.run([*cli, "list"], capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT)
    assert "errs:taska" in listed.stdout and "minimise" in listed.stdout
    bad = subprocess.run([*cli, "register", "x", str(tmp_path / "errors.csv"), "--space", "nb201", "--cell-column",
                          "arch_str", "--val", "val"], capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT)  # fmt: skip
    assert bad.returncode == 2 and "no column(s) ['arch_str']" in bad.stderr and "'arch'" in bad.stderr
    gone = subprocess.run([*cli, "unregister", "errs"], capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT)
    assert gone.returncode == 0 and "errs" not in available_benchmarks()


def test_damaged_descriptor_is_named(data_dir):
    (data_dir / "custom").mkdir(parents=True)
    (data_dir / "custom" / "broken.json").write_text("{not json")
    with pytest.warns(UserWarning, match="broken.json"):
        assert "broken" not in available_benchmarks()
    with pytest.raises(CorruptDataError, match="unregister broken"), pytest.warns(UserWarning):
        load_benchmark("broken")


def test_a_moved_file_is_named_at_load(tmp_path):
    make_table(tmp_path / "runs.csv")
    register(tmp_path / "runs.csv")
    (tmp_path / "runs.csv").unlink()
    with pytest.raises(DataMissingError, match="runs.csv does not exist"):
        load_benchmark("mine")


def test_a_python_parser_cannot_persist(tmp_path, data_dir):
    make_table(tmp_path / "runs.csv", arch=[a.upper() for a in ARCHS[:60]])
    with pytest.raises(ValueError, match="persist=False"):
        register(tmp_path / "runs.csv", parse_native=str.lower)
    bench = register(tmp_path / "runs.csv", parse_native=str.lower, persist=False)
    assert len(bench) == 60 and "mine" in available_benchmarks() and not (data_dir / "custom" / "mine.json").exists()


def test_named_json_parser_persists_a_nas_bench_graph_table(tmp_path):
    space, rng = NBGraphSpace(), np.random.default_rng(0)
    cells = {space.key(c): space.to_native(c) for c in (space.sample(rng) for _ in range(40))}
    frame = pd.DataFrame({"cell": [json.dumps([list(map(int, link)), list(ops)]) for link, ops in cells.values()],
                          "acc": np.linspace(50, 80, len(cells))})  # fmt: skip
    frame.to_csv(tmp_path / "gnn.csv", index=False)
    register_table("gnn", tmp_path / "gnn.csv", space="nbgraph", cell_column="cell", val_column="acc", parse_native="json")
    bm._TABLES.clear()
    bench = load_benchmark("gnn")
    assert sorted(bench.table.index) == sorted(cells) and bench.oracle()["best_val_acc"] == 80.0


# --------------------------------------------------------------------------- checks at registration


def test_a_wrong_column_is_refused_at_registration_naming_the_columns_the_file_has(tmp_path, data_dir):
    make_table(tmp_path / "runs.csv")
    with pytest.raises(CorruptDataError, match=r"no column\(s\) \['accuracy'\]; its columns are \['arch', 'val', 'test', 'lat'\]"):
        register(tmp_path / "runs.csv", val_column="accuracy")
    assert not (data_dir / "custom").exists() or not list((data_dir / "custom").iterdir())


def test_every_bad_row_is_counted_and_the_first_ones_quoted(tmp_path):
    archs = list(ARCHS[:60])
    for row in range(10, 22):
        archs[row] = f"|conv~{row}|"
    make_table(tmp_path / "runs.csv", arch=archs)
    with pytest.raises(InvalidCellError) as info:
        register(tmp_path / "runs.csv")
    message = str(info.value)
    assert "12 of 60 rows" in message and "(12 bad rows in all)" in message
    assert all(f"row {r} " in message for r in range(10, 15)) and "row 15 " not in message
    assert "mine" not in available_benchmarks()


def test_nan_in_a_metric_is_refused_unless_told_how_to_treat_it(tmp_path):
    frame = make_table(tmp_path / "runs.csv")
    frame.loc[[3, 7], "val"] = np.nan
    frame.loc[[5], "test"] = np.nan
    frame.to_csv(tmp_path / "runs.csv", index=False)
    with pytest.raises(CorruptDataError, match=r"'val': 2 of 60, rows 3, 7; 'test': 1 of 60, row 5.*nan='drop'"):
        register(tmp_path / "runs.csv")
    dropped = register(tmp_path / "runs.csv", nan="drop")
    assert len(dropped) == 57 and not dropped.table[["val_acc", "test_acc"]].isna().any().any()
    kept = register(tmp_path / "runs.csv", nan="unmeasured")
    assert len(kept) == 58 and np.isnan(kept.table.at[ARCHS[5], "test_acc"])
    with pytest.raises(NotInBenchmarkError):  # a row without validation value is an unmeasured cell
        kept.query(NB201Space().from_native(ARCHS[3]))
    with pytest.raises(ValueError, match="'drop' or 'unmeasured'"):
        register(tmp_path / "runs.csv", nan="zero")


def test_non_numeric_metric_values_are_listed(tmp_path):
    make_table(tmp_path / "runs.csv", lat=["fast" if i % 20 == 0 else 1.0 for i in range(60)])
    with pytest.raises(CorruptDataError, match=r"'lat' \(latency_ms\) has 3 value\(s\) that are not finite numbers: rows 0 \('fast'\), 20"):
        register(tmp_path / "runs.csv")


def test_duplicate_architectures_are_all_reported(tmp_path):
    archs = list(ARCHS[:60])
    archs[30], archs[40], archs[50] = archs[0], archs[1], archs[0]
    make_table(tmp_path / "runs.csv", arch=archs)
    with pytest.raises(CorruptDataError, match=r"2 architecture\(s\) appear more than once.*rows \[0, 30, 50\].*rows \[1, 40\]"):
        register(tmp_path / "runs.csv")


def test_name_rules(tmp_path):
    make_table(tmp_path / "runs.csv")
    for name in ("nb201", "NAS-Bench-201", "a:b", "a,b", ""):
        with pytest.raises(ValueError):
            register(tmp_path / "runs.csv", name=name)
    with pytest.raises(ValueError, match="reserved"):
        register(tmp_path / "runs.csv", cost_columns={"test_acc": "lat"})


# --------------------------------------------------------------------------- direction, datasets, content


def test_minimise_makes_the_lowest_error_the_oracle_best(tmp_path):
    frame = make_table(tmp_path / "errors.csv")
    as_is = register(tmp_path / "errors.csv").oracle()
    assert as_is["best_val_key"] == frame.loc[frame["val"].idxmax(), "arch"]  # a maximised metric
    best = register(tmp_path / "errors.csv", minimise=True).oracle()
    assert best["best_val_key"] == frame.loc[frame["val"].idxmin(), "arch"]
    assert best["best_val_acc"] == pytest.approx(-frame["val"].min())
    assert best["best_test_key"] == frame.loc[frame["test"].idxmin(), "arch"]
    fractions = register(tmp_path / "errors.csv", minimise=True, percent=False).oracle()
    assert fractions["best_val_key"] == best["best_val_key"] and fractions["best_val_acc"] == pytest.approx(100 * best["best_val_acc"])


def test_a_wrong_dataset_is_refused_with_one_rule_everywhere(tmp_path):
    make_table(tmp_path / "runs.csv")
    register(tmp_path / "runs.csv")
    with pytest.raises(UnknownBenchmarkError) as loading:
        load_benchmark("mine", "cifar10")
    with pytest.raises(ValueError) as sweeping:
        parse_benchmarks("mine:cifar10")
    assert str(loading.value) == str(sweeping.value) == "mine has no dataset 'cifar10'; choose one of ['custom']"
    assert load_benchmark("mine", "custom").dataset == "custom" and parse_benchmarks("mine") == [("mine", "custom")]
    with pytest.raises(UnknownBenchmarkError) as builtin:
        load_benchmark("nbgraph", "mnist")
    with pytest.raises(ValueError) as builtin_sweep:
        parse_benchmarks("nbgraph:mnist")
    assert str(builtin.value) == str(builtin_sweep.value)
    register(tmp_path / "runs.csv", name="other", dataset="TaskB")
    assert parse_benchmarks("other") == [("other", "taskb")] and load_benchmark("other").dataset == "taskb"
    with pytest.raises(UnknownBenchmarkError, match="other has no dataset 'custom'"):
        load_benchmark("other", "custom")


def test_new_content_under_the_same_name_has_a_new_content_digest(tmp_path):
    make_table(tmp_path / "runs.csv", seed=0)
    first = register(tmp_path / "runs.csv").content_digest()
    assert load_benchmark("mine").content_digest() == first
    make_table(tmp_path / "runs.csv", seed=1)  # same file, new measurements, registered again
    second = register(tmp_path / "runs.csv").content_digest()
    assert second != first
    make_table(tmp_path / "runs.csv", seed=2)  # changed again, not re-registered: the load re-reads it
    assert load_benchmark("mine").content_digest() not in (first, second)


# --------------------------------------------------------------------------- the sweep and its workers


@pytest.fixture
def sweep_table(tmp_path):
    make_table(tmp_path / "runs.csv", n=120)
    register(tmp_path / "runs.csv")
    return build_grid([("mine", "custom")], ["random", "evolution"], [0, 1], [6])


def test_python_m_lib_sweep_runs_on_a_registered_table(tmp_path, sweep_table):
    result = subprocess.run(
        [sys.executable, "-m", "lib.sweep", "--benchmark", "mine", "--methods", "random", "--seeds", "0-1",
         "--budgets", "5", "--workers", "1", "--results-root", str(tmp_path / "runs"), "--no-progress"],
        capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    runs = list(ResultStore(tmp_path / "runs").load_all("mine", "custom"))
    assert len(runs) == 2 and all(len(t) == 5 for t in runs)


def test_spawned_pool_workers_run_a_registered_table(tmp_path, sweep_table):
    serial, spawned = ResultStore(tmp_path / "serial"), ResultStore(tmp_path / "spawned")
    run_sweep(sweep_table, serial, progress=False)
    report = run_sweep(sweep_table, spawned, workers=2, mp_context="spawn", progress=False)
    assert len(report.completed) == 4 and not report.failed, report
    for spec in sweep_table:
        assert serial.get(spec.key()).same_queries(spawned.get(spec.key()))


def test_dask_process_workers_run_a_registered_table(tmp_path, sweep_table):
    pytest.importorskip("distributed")
    report = run_sweep(sweep_table, ResultStore(tmp_path / "dask"), workers=1, local_cluster=True, progress=False)
    assert len(report.completed) == 4 and not report.failed, report
    assert registered_tables()["mine"].space == "nb201"
