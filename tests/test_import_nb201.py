"""Tests for lib.importers.nb201 on small files built in the official layouts."""

from __future__ import annotations

import bz2
import datetime
import io
import os
import pickle
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lib.importers.nb201 import UntrustedPickleWarning, import_nb201_official

ARCHS = [
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|",
]
SEEDS = (777, 888, 999)
SEED_OFFSET = {777: 0.0, 888: 1.0, 999: 2.5}
DATASET_OFFSET = {"cifar10-valid": 30.0, "cifar10": 32.0, "cifar100": 10.0, "ImageNet16-120": -10.0}
SET_OFFSET = {"x-valid": 0.0, "x-test": 0.3, "ori-test": 0.6}
EVAL_SETS = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("x-valid", "x-test", "ori-test"),
    "ImageNet16-120": ("x-valid", "x-test", "ori-test"),
}
PARAMS = {"cifar10-valid": 0.129306, "cifar10": 0.129306, "cifar100": 0.135156, "ImageNet16-120": 0.136456}
FLOPS = {"cifar10-valid": 15.64737, "cifar10": 15.64737, "cifar100": 15.65322, "ImageNet16-120": 3.91948}
CLASSES = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}


def final_acc(cell: int, dataset: str, eval_set: str, seed: int, epochs: int) -> float:
    """Accuracy after the last epoch; 12-epoch runs are 20 points lower."""
    base = 50.0 + 5.0 * cell + DATASET_OFFSET[dataset] + SET_OFFSET[eval_set] + SEED_OFFSET[seed]
    return base - (20.0 if epochs == 12 else 0.0)


def epoch_time(cell: int, seed: int) -> float:
    return 10.0 + cell + SEED_OFFSET[seed]


def results_count(cell: int, dataset: str, seed: int, epochs: int, *, weights: bool = False) -> dict:
    """A ResultsCount state dict (``ResultsCount.state_dict()``) with per-epoch curves."""
    accs, losses, times = {}, {}, {}
    for eval_set in EVAL_SETS[dataset]:
        final = final_acc(cell, dataset, eval_set, seed, epochs)
        for epoch in range(epochs):
            key = f"{eval_set}@{epoch}"
            accs[key] = final if epoch == epochs - 1 else final - 25.0 + epoch * 0.01
            losses[key] = 1.0 / (epoch + 1)
            times[key] = 0.5
    accs[f"{EVAL_SETS[dataset][0]}@{epochs - 1}"] = np.float64(accs[f"{EVAL_SETS[dataset][0]}@{epochs - 1}"])
    return {
        "name": f"{dataset}-seed-{seed}",
        "net_state_dict": OrderedDict(w=torch.ones(2, 2)) if weights else None,
        "train_acc1es": OrderedDict((e, 40.0 + e * 0.1) for e in range(epochs)),
        "train_acc5es": OrderedDict((e, 80.0) for e in range(epochs)),
        "train_losses": OrderedDict((e, 1.0) for e in range(epochs)),
        "train_times": OrderedDict((e, epoch_time(cell, seed)) for e in range(epochs)),
        "arch_config": {"name": "infer.tiny", "channel": 16, "num_cells": 5,
                        "arch_str": ARCHS[cell], "class_num": CLASSES[dataset]},
        "params": PARAMS[dataset] * (cell + 1),
        "flop": FLOPS[dataset] * (cell + 1),
        "seed": seed,
        "epochs": epochs,
        "latency": [0.01 + 0.001 * cell],
        "eval_names": list(EVAL_SETS[dataset]),
        "eval_acc1es": accs,
        "eval_times": times,
        "eval_losses": losses,
    }


def arch_results(cell: int, epochs: int, dataset_seeds: dict[str, tuple[int, ...]], *, weights: bool = False) -> dict:
    """An ArchResults state dict (``ArchResults.state_dict()``)."""
    all_results = {
        (dataset, seed): results_count(cell, dataset, seed, epochs, weights=weights and seed == seeds[0])
        for dataset, seeds in dataset_seeds.items()
        for seed in seeds
    }
    return {
        "arch_index": cell,
        "arch_str": ARCHS[cell],
        "all_results": all_results,
        "dataset_seed": {dataset: sorted(seeds) for dataset, seeds in dataset_seeds.items()},
        "clear_net_done": False,
    }


FULL_SEEDS = {dataset: SEEDS for dataset in EVAL_SETS}
LESS_SEEDS_NB201 = {"cifar10-valid": (777, 888)}
LESS_SEEDS_NATS = {"cifar10-valid": (777, 888), "cifar10": (777,), "cifar100": (777,), "ImageNet16-120": (777,)}


def write_pth(path: Path, *, hp_keys=("less", "full"), zipfile: bool = True) -> Path:
    """Writes a NAS-Bench-201 style .pth with cells inserted out of order."""
    less_key, full_key = hp_keys
    arch2infos = {
        cell: {less_key: arch_results(cell, 12, LESS_SEEDS_NB201),
               full_key: arch_results(cell, 200, FULL_SEEDS, weights=True)}
        for cell in (2, 0, 1)
    }
    data = {"meta_archs": list(ARCHS), "arch2infos": arch2infos,
            "evaluated_indexes": set(range(3)), "total_archs": 3}
    torch.save(data, path, _use_new_zipfile_serialization=zipfile)
    return path


def pickle_pbz2(obj, path: Path) -> None:
    with bz2.BZ2File(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=4)


def write_nats_dir(root: Path, cells=(0, 1, 2), meta_archs=ARCHS) -> Path:
    """Writes a NATS-tss-v1_0-3ffb9-simple style directory."""
    directory = root / "NATS-tss-v1_0-3ffb9-simple"
    directory.mkdir()
    pickle_pbz2({"meta_archs": list(meta_archs), "total_archs": len(meta_archs)},
                directory / "meta.pickle.pbz2")
    for cell in cells:
        hp2state = {"12": arch_results(cell, 12, LESS_SEEDS_NATS),
                    "200": arch_results(cell, 200, FULL_SEEDS)}
        pickle_pbz2(hp2state, directory / f"{cell:06d}.pickle.pbz2")
    return directory


def expected_mean(cell: int, dataset: str, eval_set: str, seeds, epochs: int) -> float:
    return float(np.mean([final_acc(cell, dataset, eval_set, s, epochs) for s in seeds]))


E200_SPEC = {
    "e200_cifar10_test_mean": ("cifar10", "ori-test"),
    "e200_cifar100_test_mean": ("cifar100", "x-test"),
    "e200_imagenet16_test_mean": ("ImageNet16-120", "x-test"),
    "e200_cifar10valid_val_naslib": ("cifar10-valid", "x-valid"),
    "e200_cifar100_val_naslib": ("cifar100", "x-valid"),
    "e200_imagenet16_val_naslib": ("ImageNet16-120", "x-valid"),
}
E12_SPEC = {
    "e12_cifar10_test": ("cifar10", "ori-test"),
    "e12_cifar10_val": ("cifar10-valid", "x-valid"),
    "e12_cifar100_test": ("cifar100", "x-test"),
    "e12_cifar100_val": ("cifar100", "x-valid"),
    "e12_imagenet_test": ("ImageNet16-120", "x-test"),
    "e12_imagenet_val": ("ImageNet16-120", "x-valid"),
}
COST_SPEC = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16": "ImageNet16-120"}


def check_common(table: pd.DataFrame) -> None:
    assert table["arch_idx"].tolist() == [0, 1, 2]
    assert table["arch_idx"].dtype == np.int64
    assert table["arch_str"].tolist() == ARCHS
    for cell in range(3):
        row = table.iloc[cell]
        for column, (dataset, eval_set) in E200_SPEC.items():
            assert row[column] == pytest.approx(expected_mean(cell, dataset, eval_set, SEEDS, 200))
        for suffix, dataset in COST_SPEC.items():
            assert row[f"params_M_{suffix}"] == pytest.approx(PARAMS[dataset] * (cell + 1))
            assert row[f"flops_M_{suffix}"] == pytest.approx(FLOPS[dataset] * (cell + 1))
            expected_time = np.mean([200 * epoch_time(cell, s) for s in SEEDS])
            assert row[f"train_time_s_{suffix}"] == pytest.approx(expected_time)


def import_quietly(src, **kwargs) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrustedPickleWarning)
        return import_nb201_official(src, progress=False, **kwargs)


@pytest.mark.parametrize("zipfile", [True, False], ids=["zip", "legacy"])
def test_pth_values(tmp_path, zipfile):
    path = write_pth(tmp_path / "NAS-Bench-201-v1_0-e61699.pth", zipfile=zipfile)
    table = import_quietly(path)
    check_common(table)
    row0 = table.iloc[0]
    assert row0["e200_cifar10_test_mean"] == pytest.approx(82.6 + 3.5 / 3)
    assert row0["e200_cifar100_test_mean"] == pytest.approx(60.3 + 3.5 / 3)
    assert row0["e200_imagenet16_val_naslib"] == pytest.approx(40.0 + 3.5 / 3)
    assert row0["params_M_cifar10"] == pytest.approx(0.129306)
    assert row0["flops_M_imagenet16"] == pytest.approx(3.91948)
    assert row0["train_time_s_cifar10"] == pytest.approx(200 * (10.0 + 3.5 / 3))
    assert table["e12_cifar10_val"].tolist() == pytest.approx(
        [expected_mean(c, "cifar10-valid", "x-valid", (777, 888), 12) for c in range(3)]
    )
    assert not {"e12_cifar10_test", "e12_cifar100_test", "e12_imagenet_val"} & set(table.columns)


def test_pth_with_numeric_hp_keys(tmp_path):
    path = write_pth(tmp_path / "NAS-Bench-201-v1_1-096897.pth", hp_keys=("12", "200"))
    table = import_quietly(path)
    check_common(table)
    assert table.loc[1, "e12_cifar10_val"] == pytest.approx(expected_mean(1, "cifar10-valid", "x-valid", (777, 888), 12))


def test_pth_with_numpy1_scalar_names(tmp_path):
    buffer = io.BytesIO()
    data = {"meta_archs": ARCHS[:1], "arch2infos": {0: {"200": arch_results(0, 200, FULL_SEEDS)}}}
    torch.save(data, buffer, _use_new_zipfile_serialization=False)
    raw = buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in raw
    path = tmp_path / "bench.pth"
    path.write_bytes(raw)
    table = import_quietly(path)
    assert table.loc[0, "e200_cifar10valid_val_naslib"] == pytest.approx(80.0 + 3.5 / 3)


def test_single_pbz2_benchmark_file(tmp_path):
    path = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    arch2infos = {cell: {"12": arch_results(cell, 12, LESS_SEEDS_NATS), "200": arch_results(cell, 200, FULL_SEEDS)}
                  for cell in (1, 2, 0)}
    pickle_pbz2({"meta_archs": ARCHS, "arch2infos": arch2infos, "evaluated_indexes": {0, 1, 2}}, path)
    table = import_quietly(path)
    check_common(table)
    assert table.loc[0, "e12_imagenet_val"] == pytest.approx(final_acc(0, "ImageNet16-120", "x-valid", 777, 12))


def test_pth_warns_before_unpickling(tmp_path):
    path = write_pth(tmp_path / "bench.pth")
    with pytest.warns(UntrustedPickleWarning, match="can execute arbitrary code") as record:
        import_nb201_official(path, progress=False)
    assert str(path) in str(record[0].message)
    assert "official" in str(record[0].message)


def test_nats_simple_dir_values(tmp_path):
    directory = write_nats_dir(tmp_path)
    with pytest.warns(UntrustedPickleWarning) as record:
        table = import_nb201_official(directory, progress=False)
    assert str(directory / "meta.pickle.pbz2") in str(record[0].message)
    assert str(directory) in str(record[0].message)
    check_common(table)
    for cell in range(3):
        for column, (dataset, eval_set) in E12_SPEC.items():
            seeds = LESS_SEEDS_NATS[dataset]
            assert table.loc[cell, column] == pytest.approx(expected_mean(cell, dataset, eval_set, seeds, 12))
    assert table.loc[2, "e12_cifar100_test"] == pytest.approx(70.3 - 20.0)


def test_nats_dir_missing_cells_are_left_out(tmp_path):
    directory = write_nats_dir(tmp_path, cells=(0, 2), meta_archs=ARCHS + ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"])
    with pytest.warns(UntrustedPickleWarning), pytest.warns(UserWarning, match="2 of 4 cells have no results"):
        table = import_nb201_official(directory, progress=False)
    assert table["arch_idx"].tolist() == [0, 2]
    assert table["arch_str"].tolist() == [ARCHS[0], ARCHS[2]]


def test_writes_parquet_atomically(tmp_path):
    path = write_pth(tmp_path / "bench.pth")
    dest = tmp_path / "out" / "nb201_official.parquet"
    table = import_quietly(path, dest=dest)
    pd.testing.assert_frame_equal(pd.read_parquet(dest), table)
    assert sorted(os.listdir(dest.parent)) == ["nb201_official.parquet"]


def test_progress_bar_runs(tmp_path, capsys):
    path = write_pth(tmp_path / "bench.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrustedPickleWarning)
        import_nb201_official(path, progress=True)
    assert "NB201 cells" in capsys.readouterr().err


def test_missing_file_names_file_and_download_pages(tmp_path):
    missing = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    with pytest.raises(FileNotFoundError) as info:
        import_nb201_official(missing, progress=False)
    message = str(info.value)
    assert str(missing) in message
    assert "https://github.com/D-X-Y/NAS-Bench-201" in message
    assert "https://github.com/D-X-Y/NATS-Bench" in message


def test_pth_with_wrong_layout(tmp_path):
    path = tmp_path / "model.pth"
    torch.save({"state_dict": OrderedDict(w=torch.zeros(1))}, path)
    with pytest.raises(ValueError, match="expected a dict with keys 'meta_archs' and 'arch2infos'"):
        import_quietly(path)


def test_cell_without_results_layout(tmp_path):
    path = tmp_path / "bench.pth"
    torch.save({"meta_archs": ARCHS, "arch2infos": {0: {"full": {"no": "results"}}}}, path)
    with pytest.raises(ValueError, match="expected an ArchResults state dict with 'all_results'"):
        import_quietly(path)


def test_arch_str_mismatch_is_rejected(tmp_path):
    path = tmp_path / "bench.pth"
    torch.save({"meta_archs": ARCHS[::-1], "arch2infos": {0: {"200": arch_results(0, 200, FULL_SEEDS)}}}, path)
    with pytest.raises(ValueError, match="stores arch_str"):
        import_quietly(path)


def test_directory_without_meta(tmp_path):
    with pytest.raises(ValueError, match=r"expected meta\.pickle\.pbz2"):
        import_nb201_official(tmp_path, progress=False)


def test_tar_archive_is_rejected(tmp_path):
    tar = tmp_path / "NATS-tss-v1_0-3ffb9-simple.tar"
    tar.write_bytes(b"not really a tar")
    with pytest.raises(ValueError, match="extract it"):
        import_nb201_official(tar, progress=False)


class _Payload:
    """Pickles to a call of a function outside the allow-list."""

    def __reduce__(self):
        return (os.getpid, ())


def test_restricted_unpickler_refuses_unknown_globals(tmp_path):
    directory = write_nats_dir(tmp_path, cells=(0,))
    pickle_pbz2({"200": _Payload()}, directory / "000001.pickle.pbz2")
    with pytest.raises(ValueError, match="refused to load global posix.getpid|refused to load global os.getpid"):
        import_quietly(directory)


def test_allow_unsafe_pickle_loads_other_globals(tmp_path):
    directory = write_nats_dir(tmp_path)
    pickle_pbz2({"meta_archs": ARCHS, "created": datetime.date(2020, 8, 31)}, directory / "meta.pickle.pbz2")
    with pytest.raises(ValueError, match="refused to load global datetime.date"):
        import_quietly(directory)
    check_common(import_quietly(directory, allow_unsafe_pickle=True))


def test_pth_loader_refuses_unknown_globals(tmp_path):
    path = tmp_path / "bench.pth"
    torch.save({"meta_archs": ARCHS, "arch2infos": {0: _Payload()}}, path)
    with pytest.raises(ValueError, match="allow_unsafe_pickle=True"):
        import_quietly(path)
