"""Official files → `python -m lib.importers` → `load_benchmark` reads the converted table."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from lib import benchmark as bm
from lib.importers.__main__ import main as importer_cli
from lib.importers.nb101 import encode_model_metrics, encode_nb101_record
from lib.importers.tfrecord import write_records
from lib.spaces import NB101Space
from test_import_nb201 import ARCHS, SEEDS, expected_mean, write_pth


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_NAS_DATA", str(tmp_path / "data"))
    bm._TABLE_CACHE.clear()
    yield tmp_path / "data"
    bm._TABLE_CACHE.clear()


def test_nb201_official_file_becomes_the_benchmark(tmp_path, data_dir, capsys):
    pth = write_pth(tmp_path / "NAS-Bench-201-v1_1-096897.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert importer_cli(["nb201", str(pth)]) == 0
    assert (data_dir / "nb201" / "nb201_cells.parquet").exists()
    bench = bm.load_benchmark("nb201", "cifar100")
    assert len(bench) == 3
    result = bench.query(bench.space.from_native(ARCHS[1]))
    assert result["test_acc"] == pytest.approx(expected_mean(1, "cifar100", "x-test", SEEDS, 200))
    assert result["val_acc"] == pytest.approx(expected_mean(1, "cifar100", "x-valid", SEEDS, 200))
    assert "train_time_s" in result and "params_M" in result
    assert importer_cli(["nb201", str(pth), "--if-missing"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_nb101_tfrecord_becomes_the_benchmark_with_test_accuracy(tmp_path, data_dir):
    space = NB101Space()
    rng = np.random.default_rng(0)
    cells = []
    while len(cells) < 4:
        cell = space.sample(rng)
        if cell.num_nodes > 2 and space.key(cell) not in {space.key(c) for c in cells}:
            cells.append(cell)
    records = []
    for index, cell in enumerate(cells):
        for repeat in range(3):
            final = {"current_epoch": 108.0, "training_time": 1000.0, "train_accuracy": 1.0,
                     "validation_accuracy": 0.80 + 0.01 * index + 0.001 * repeat,
                     "test_accuracy": 0.79 + 0.01 * index}  # fmt: skip
            metrics = encode_model_metrics([final], 1_000_000 * (index + 1))
            matrix, ops = space.to_native(cell)
            records.append(encode_nb101_record(space.key(cell), 108, matrix.tolist(), ops, metrics))
    src = tmp_path / "nasbench_only108.tfrecord"
    write_records(src, records)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert importer_cli(["nb101", str(src)]) == 0
    bench = bm.load_benchmark("nb101")
    assert len(bench) == 4 and bench.has_test
    permuted = cells[2].permute([0, *reversed(range(1, cells[2].num_nodes - 1)), cells[2].num_nodes - 1])
    result = bench.query(permuted)
    assert result["val_acc"] == pytest.approx(100 * (0.82 + 0.001))
    assert result["test_acc"] == pytest.approx(100 * 0.81)
    assert result["params_M"] == pytest.approx(3.0)
    assert bench.oracle()["best_val_key"] == space.key(cells[3])


def test_importer_cli_reports_missing_file(tmp_path, data_dir, capsys):
    assert importer_cli(["nb101", str(tmp_path / "absent.tfrecord")]) == 2
    assert "absent.tfrecord" in capsys.readouterr().err
