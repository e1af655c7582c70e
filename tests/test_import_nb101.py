"""Tests for the TensorFlow-free NAS-Bench-101 TFRecord importer."""

from __future__ import annotations

import math
import struct

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.errors import CorruptDataError, DataMissingError
from lib.importers import nb101, tfrecord
from lib.importers.nb101 import (
    decode_fields,
    decode_model_metrics,
    encode_fields,
    encode_model_metrics,
    encode_nb101_record,
    import_nb101_tfrecord,
)
from lib.importers.tfrecord import crc32c, crc32c_many, iter_records, write_records

IN, OUT = "input", "output"
C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"

CELLS = {
    "a" * 32: (
        [[0, 1, 1, 0, 0, 0, 0],
         [0, 0, 0, 1, 0, 0, 0],
         [0, 0, 0, 0, 1, 0, 0],
         [0, 0, 0, 0, 0, 1, 0],
         [0, 0, 0, 0, 0, 1, 0],
         [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 0, 0]],
        [IN, C3, C1, MP, C3, C1, OUT],
        "110000" "01000" "0100" "010" "10" "1",
        "0,1,2,0,1",
        7,
    ),
    "0" * 31 + "b": (
        [[0, 0, 1, 1, 0],
         [0, 0, 0, 0, 1],
         [0, 0, 0, 1, 0],
         [0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0]],
        [IN, MP, C1, C3, OUT],
        "0110" "001" "10" "1",
        "2,1,0",
        5,
    ),
    "c" * 32: (
        [[0, 1],
         [0, 0]],
        [IN, OUT],
        "1",
        "",
        1,
    ),
}
PARAMS = {"a" * 32: 1234567, "0" * 31 + "b": 98765, "c" * 32: 42}


def _final(cell_index: int, budget: int, repeat: int) -> dict[str, float]:
    base = 0.1 * (cell_index + 1) + budget / 1000.0
    return {
        "current_epoch": float(budget),
        "training_time": 100.0 * budget + 7.0 * repeat + cell_index,
        "train_accuracy": base + 0.05 + 0.01 * repeat,
        "validation_accuracy": base + 0.02 * repeat,
        "test_accuracy": base - 0.01 + 0.03 * repeat,
    }


def _payloads(budgets=(4, 108)) -> list[bytes]:
    out = []
    for budget in budgets:
        for repeat in range(3):
            for index, (module_hash, cell) in enumerate(CELLS.items()):
                start = {"current_epoch": 0.0, "training_time": 0.0, "train_accuracy": 0.1,
                         "validation_accuracy": 0.1, "test_accuracy": 0.1}
                half = {key: value / 2 for key, value in _final(index, budget, repeat).items()}
                metrics = encode_model_metrics(
                    [start, half, _final(index, budget, repeat)], PARAMS[module_hash],
                    total_time=1.5)
                out.append(encode_nb101_record(module_hash, budget, cell[0], cell[1], metrics))
    return out


def _expected(index: int, budget: int, key: str) -> float:
    values = [_final(index, budget, repeat)[key] for repeat in range(3)]
    return sum(values) / 3


@pytest.fixture()
def nb_file(tmp_path):
    path = tmp_path / "nasbench_test.tfrecord"
    write_records(path, _payloads())
    return path


def _import(path, **kwargs):
    with pytest.warns(UserWarning, match="Reading NAS-Bench-101"):
        return import_nb101_tfrecord(path, progress=False, **kwargs)


def test_crc32c_check_value():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(b"6789", crc32c(b"12345")) == 0xE3069283


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_crc32c_vectorised_matches_scalar(buffers):
    assert list(crc32c_many(buffers)) == [crc32c(b) for b in buffers]


def test_tfrecord_round_trip(tmp_path):
    payloads = [b"", b"x", bytes(range(256)) * 3, b"hello world"]
    path = tmp_path / "r.tfrecord"
    assert write_records(path, payloads) == 4
    assert list(iter_records(path)) == payloads


def test_tfrecord_framing_matches_reference():
    record = tfrecord.encode_record(b"abc")
    length, length_crc = struct.unpack("<QI", record[:12])
    assert length == 3
    crc = crc32c(record[:8])
    assert length_crc == ((((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)
    assert record[12:15] == b"abc"
    assert struct.unpack("<I", record[15:])[0] == tfrecord.masked_crc32c(b"abc")


def test_data_crc_corruption_detected(nb_file):
    raw = bytearray(nb_file.read_bytes())
    first_len = struct.unpack("<Q", raw[:8])[0]
    second = 16 + first_len
    raw[second + 12 + 5] ^= 0x01
    nb_file.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=rf"{nb_file.name}.*offset {second}"):
        list(iter_records(nb_file))
    with pytest.raises(ValueError, match="CRC mismatch"):
        _import(nb_file)


def test_length_crc_corruption_detected(nb_file):
    raw = bytearray(nb_file.read_bytes())
    raw[8] ^= 0xFF
    nb_file.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"length CRC mismatch.*offset 0"):
        list(iter_records(nb_file))


def test_truncated_file_detected(nb_file):
    raw = nb_file.read_bytes()
    nb_file.write_bytes(raw[:-3])
    with pytest.raises(ValueError, match="truncated"):
        list(iter_records(nb_file))


def test_missing_file_message(tmp_path):
    missing = tmp_path / "nasbench_only108.tfrecord"
    with pytest.raises(FileNotFoundError) as info:
        import_nb101_tfrecord(missing, progress=False)
    assert isinstance(info.value, DataMissingError)
    message = str(info.value)
    assert "nasbench_only108.tfrecord" in message
    assert "https://github.com/google-research/nasbench" in message
    assert "download page" in message


def test_not_a_tfrecord(tmp_path):
    path = tmp_path / "notes.tfrecord"
    path.write_text("this is just a text file, not a TFRecord at all\n")
    with pytest.raises(ValueError, match="not a valid TFRecord") as info:
        _import(path)
    assert isinstance(info.value, CorruptDataError)


def test_tfrecord_with_foreign_payload(tmp_path):
    path = tmp_path / "other.tfrecord"
    write_records(path, [b"\x08\x01not json"])
    with pytest.raises(ValueError, match="record 0 is not a NAS-Bench-101 record"):
        _import(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.tfrecord"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="no NAS-Bench-101 records"):
        _import(path)


def test_protobuf_field_round_trip():
    fields = [
        (1, nb101.WIRE_VARINT, 0),
        (2, nb101.WIRE_VARINT, 300),
        (3, nb101.WIRE_VARINT, (1 << 64) - 5),
        (4, nb101.WIRE_FIXED64, struct.pack("<d", math.pi)),
        (5, nb101.WIRE_BYTES, b""),
        (6, nb101.WIRE_BYTES, b"x" * 200),
        (7, nb101.WIRE_FIXED32, struct.pack("<f", 1.5)),
        (1000, nb101.WIRE_VARINT, 1),
    ]
    encoded = encode_fields(fields)
    assert encoded[:2] == b"\x08\x00"
    assert encoded[2:5] == b"\x10\xac\x02"
    assert decode_fields(encoded) == fields


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.fixed_dictionaries({
        "current_epoch": st.floats(allow_nan=False),
        "training_time": st.floats(allow_nan=False),
        "train_accuracy": st.floats(0, 1),
        "validation_accuracy": st.floats(0, 1),
        "test_accuracy": st.floats(0, 1),
        "checkpoint_path": st.text(max_size=20),
    }), max_size=4),
    st.integers(-(2 ** 31), 2 ** 31 - 1),
    st.floats(allow_nan=False),
)
def test_model_metrics_round_trip(evaluations, params, total_time):
    decoded = decode_model_metrics(encode_model_metrics(evaluations, params, total_time))
    assert decoded == {"evaluation_data": evaluations, "trainable_parameters": params,
                       "total_time": total_time}


def test_protobuf_rejects_truncation():
    encoded = encode_fields([(1, nb101.WIRE_BYTES, b"abcdef")])
    with pytest.raises(ValueError, match="truncated"):
        decode_fields(encoded[:-1])
    with pytest.raises(ValueError, match="truncated"):
        decode_fields(b"\x10\x80")


def test_import_values(nb_file):
    frame = _import(nb_file)
    assert list(frame["hash"]) == sorted(CELLS)
    assert list(frame.columns) == [
        "4_final_validation_accuracy", "108_final_validation_accuracy",
        "final_training_time", "trainable_parameters", "hash", "num_vertices",
        "num_edges", "adj_upper_bits", "ops",
        "4_final_test_accuracy", "4_final_train_accuracy",
        "108_final_test_accuracy", "108_final_train_accuracy",
    ]
    order = list(CELLS)
    for _, row in frame.iterrows():
        index = order.index(row["hash"])
        matrix, ops, bits, codes, edges = CELLS[row["hash"]]
        assert row["num_vertices"] == len(matrix)
        assert row["num_edges"] == edges == sum(map(sum, matrix))
        assert isinstance(row["adj_upper_bits"], str)
        assert row["adj_upper_bits"] == bits
        assert len(bits) == len(matrix) * (len(matrix) - 1) // 2
        assert row["ops"] == codes
        assert row["trainable_parameters"] == PARAMS[row["hash"]]
        for budget in (4, 108):
            for split in ("validation", "test", "train"):
                assert row[f"{budget}_final_{split}_accuracy"] == pytest.approx(
                    _expected(index, budget, f"{split}_accuracy"), abs=1e-12)
        assert row["final_training_time"] == pytest.approx(
            _expected(index, 108, "training_time"), abs=1e-9)


def test_leading_zero_bits_and_small_cell(nb_file):
    frame = _import(nb_file).set_index("hash")
    small = frame.loc["0" * 31 + "b"]
    assert small["adj_upper_bits"] == "0110001101"
    assert small["num_vertices"] == 5
    assert small["ops"] == "2,1,0"
    tiny = frame.loc["c" * 32]
    assert (tiny["num_vertices"], tiny["num_edges"], tiny["adj_upper_bits"], tiny["ops"]) == (
        2, 1, "1", "")


def test_exact_mean_values(nb_file):
    frame = _import(nb_file).set_index("hash")
    row = frame.loc["a" * 32]
    assert row["108_final_validation_accuracy"] == pytest.approx(0.1 + 0.108 + 0.02)
    assert row["4_final_test_accuracy"] == pytest.approx(0.1 + 0.004 - 0.01 + 0.03)
    assert row["final_training_time"] == pytest.approx(10800.0 + 7.0)


def test_only_largest_budget_used_for_time(tmp_path):
    path = tmp_path / "only4.tfrecord"
    write_records(path, _payloads(budgets=(4, 12)))
    frame = _import(path).set_index("hash")
    assert "108_final_validation_accuracy" not in frame.columns
    assert "12_final_train_accuracy" in frame.columns
    assert frame.loc["a" * 32, "final_training_time"] == pytest.approx(1200.0 + 7.0)


def test_parquet_written_atomically(nb_file, tmp_path):
    dest = tmp_path / "out" / "nb101.parquet"
    frame = _import(nb_file, dest=dest)
    assert dest.exists()
    assert [p.name for p in dest.parent.iterdir()] == ["nb101.parquet"]
    loaded = pd.read_parquet(dest)
    assert list(loaded["adj_upper_bits"]) == list(frame["adj_upper_bits"])
    assert loaded.loc[loaded["hash"] == "0" * 31 + "b", "adj_upper_bits"].item() == "0110001101"
    pd.testing.assert_frame_equal(loaded, frame, check_dtype=False)


def test_progress_bar_runs(nb_file, capsys):
    with pytest.warns(UserWarning):
        frame = import_nb101_tfrecord(nb_file, progress=True)
    assert len(frame) == 3
    assert "NAS-Bench-101" in capsys.readouterr().err
