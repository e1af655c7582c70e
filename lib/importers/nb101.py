"""Importer for the official NAS-Bench-101 TFRecord files, without TensorFlow.

Reads ``nasbench_only108.tfrecord`` or ``nasbench_full.tfrecord`` from
https://github.com/google-research/nasbench. Each record is a UTF-8 JSON list
``[module_hash, epochs, raw_adjacency, raw_operations, raw_metrics]`` where
``raw_metrics`` is the base64 of a serialized ``nasbench.ModelMetrics``
protobuf (``nasbench/lib/model_metrics.proto``). There is one record per
(cell, epoch budget, repeat); the importer averages the repeats and returns
one row per cell.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import struct
import warnings
from typing import Any, Iterable

import pandas as pd
from tqdm.auto import tqdm

from lib.data import write_table_atomic
from lib.errors import CorruptDataError, DataMissingError
from lib.importers.tfrecord import iter_records

NB101_URL = "https://github.com/google-research/nasbench"

OP_CODES = {"conv3x3-bn-relu": 0, "conv1x1-bn-relu": 1, "maxpool3x3": 2}

WIRE_VARINT = 0
WIRE_FIXED64 = 1
WIRE_BYTES = 2
WIRE_FIXED32 = 5

_DOUBLE = struct.Struct("<d")
_EVAL_DOUBLE_FIELDS = {
    1: "current_epoch",
    2: "training_time",
    3: "train_accuracy",
    4: "validation_accuracy",
    5: "test_accuracy",
}
_EVAL_STRING_FIELDS = {6: "checkpoint_path"}


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("protobuf: truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ValueError("protobuf: varint longer than 10 bytes")


def _encode_varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def decode_fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """Decodes a protobuf message into its raw wire-format fields.

    Args:
        buf: Serialized protobuf message.

    Returns:
        ``(field_number, wire_type, value)`` tuples in wire order. Values are
        ``int`` for varints and ``bytes`` for the 64-bit, 32-bit and
        length-delimited wire types (fixed-width values stay little-endian raw
        bytes).

    Raises:
        ValueError: If the message is truncated or uses an unsupported wire
            type (groups).
    """
    fields = []
    pos = 0
    size = len(buf)
    while pos < size:
        key, pos = _read_varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ValueError("protobuf: invalid field number 0")
        if wire_type == WIRE_VARINT:
            value, pos = _read_varint(buf, pos)
        elif wire_type in (WIRE_FIXED64, WIRE_FIXED32):
            width = 8 if wire_type == WIRE_FIXED64 else 4
            if pos + width > size:
                raise ValueError("protobuf: truncated fixed-width field")
            value = bytes(buf[pos:pos + width])
            pos += width
        elif wire_type == WIRE_BYTES:
            length, pos = _read_varint(buf, pos)
            if pos + length > size:
                raise ValueError("protobuf: truncated length-delimited field")
            value = bytes(buf[pos:pos + length])
            pos += length
        else:
            raise ValueError(f"protobuf: unsupported wire type {wire_type}")
        fields.append((number, wire_type, value))
    return fields


def encode_fields(fields: Iterable[tuple[int, int, Any]]) -> bytes:
    """Encodes raw wire-format fields into a protobuf message.

    Args:
        fields: ``(field_number, wire_type, value)`` tuples, in the format
            returned by :func:`decode_fields`. Varint values may be negative
            (encoded as 64-bit two's complement).

    Returns:
        The serialized message.

    Raises:
        ValueError: If a wire type is unsupported or a fixed-width value has
            the wrong length.
    """
    out = bytearray()
    for number, wire_type, value in fields:
        out += _encode_varint((number << 3) | wire_type)
        if wire_type == WIRE_VARINT:
            out += _encode_varint(value)
        elif wire_type in (WIRE_FIXED64, WIRE_FIXED32):
            width = 8 if wire_type == WIRE_FIXED64 else 4
            if len(value) != width:
                raise ValueError(f"protobuf: field {number} needs {width} bytes")
            out += value
        elif wire_type == WIRE_BYTES:
            out += _encode_varint(len(value)) + value
        else:
            raise ValueError(f"protobuf: unsupported wire type {wire_type}")
    return bytes(out)


def _to_int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def decode_evaluation_data(buf: bytes) -> dict[str, Any]:
    """Decodes a serialized ``nasbench.EvaluationData`` message.

    Args:
        buf: Serialized message.

    Returns:
        Dict with ``current_epoch``, ``training_time``, ``train_accuracy``,
        ``validation_accuracy``, ``test_accuracy`` (floats, 0.0 when absent)
        and ``checkpoint_path`` (str, empty when absent).

    Raises:
        ValueError: If the message is malformed.
    """
    result: dict[str, Any] = {name: 0.0 for name in _EVAL_DOUBLE_FIELDS.values()}
    result["checkpoint_path"] = ""
    for number, wire_type, value in decode_fields(buf):
        if number in _EVAL_DOUBLE_FIELDS and wire_type == WIRE_FIXED64:
            result[_EVAL_DOUBLE_FIELDS[number]] = _DOUBLE.unpack(value)[0]
        elif number in _EVAL_STRING_FIELDS and wire_type == WIRE_BYTES:
            result[_EVAL_STRING_FIELDS[number]] = value.decode("utf-8")
    return result


def decode_model_metrics(buf: bytes) -> dict[str, Any]:
    """Decodes a serialized ``nasbench.ModelMetrics`` message.

    Args:
        buf: Serialized message.

    Returns:
        Dict with ``evaluation_data`` (list of dicts as returned by
        :func:`decode_evaluation_data`), ``trainable_parameters`` (int) and
        ``total_time`` (float).

    Raises:
        ValueError: If the message is malformed.
    """
    result: dict[str, Any] = {"evaluation_data": [], "trainable_parameters": 0,
                              "total_time": 0.0}
    for number, wire_type, value in decode_fields(buf):
        if number == 1 and wire_type == WIRE_BYTES:
            result["evaluation_data"].append(decode_evaluation_data(value))
        elif number == 2 and wire_type == WIRE_VARINT:
            result["trainable_parameters"] = _to_int32(value)
        elif number == 3 and wire_type == WIRE_FIXED64:
            result["total_time"] = _DOUBLE.unpack(value)[0]
    return result


def encode_evaluation_data(data: dict[str, Any]) -> bytes:
    """Encodes a ``nasbench.EvaluationData`` message.

    Args:
        data: Dict with any of the keys produced by
            :func:`decode_evaluation_data`; missing keys are omitted.

    Returns:
        The serialized message.
    """
    fields = [(number, WIRE_FIXED64, _DOUBLE.pack(float(data[name])))
              for number, name in _EVAL_DOUBLE_FIELDS.items() if name in data]
    fields += [(number, WIRE_BYTES, str(data[name]).encode("utf-8"))
               for number, name in _EVAL_STRING_FIELDS.items() if data.get(name)]
    return encode_fields(fields)


def encode_model_metrics(evaluation_data: Iterable[dict[str, Any]],
                         trainable_parameters: int,
                         total_time: float = 0.0) -> bytes:
    """Encodes a ``nasbench.ModelMetrics`` message.

    Args:
        evaluation_data: EvaluationData dicts, in training order.
        trainable_parameters: Number of trainable parameters.
        total_time: Total training plus evaluation time in seconds.

    Returns:
        The serialized message.
    """
    fields = [(1, WIRE_BYTES, encode_evaluation_data(item)) for item in evaluation_data]
    fields.append((2, WIRE_VARINT, int(trainable_parameters)))
    fields.append((3, WIRE_FIXED64, _DOUBLE.pack(float(total_time))))
    return encode_fields(fields)


def encode_nb101_record(module_hash: str, epochs: int, matrix: list[list[int]],
                        operations: list[str], metrics: bytes) -> bytes:
    """Builds one record payload in the official NAS-Bench-101 layout.

    Args:
        module_hash: Cell hash.
        epochs: Epoch budget of this training run.
        matrix: Square 0/1 adjacency matrix.
        operations: Vertex labels including ``input`` and ``output``.
        metrics: Serialized ``ModelMetrics`` message.

    Returns:
        UTF-8 JSON payload bytes.
    """
    raw_adjacency = "".join(str(int(v)) for row in matrix for v in row)
    row = [module_hash, int(epochs), raw_adjacency, ",".join(operations),
           base64.b64encode(metrics).decode("ascii")]
    return json.dumps(row).encode("utf-8")


def _parse_cell(raw_adjacency: str, raw_operations: str) -> dict[str, Any]:
    dim = int(round(len(raw_adjacency) ** 0.5))
    if dim * dim != len(raw_adjacency) or set(raw_adjacency) - {"0", "1"}:
        raise ValueError(f"adjacency {raw_adjacency!r} is not a square 0/1 matrix")
    rows = [raw_adjacency[i * dim:(i + 1) * dim] for i in range(dim)]
    if any("1" in row[:i + 1] for i, row in enumerate(rows)):
        raise ValueError(f"adjacency {raw_adjacency!r} is not strictly upper triangular")
    operations = raw_operations.split(",")
    if len(operations) != dim or operations[0] != "input" or operations[-1] != "output":
        raise ValueError(f"operations {raw_operations!r} do not match a {dim}-vertex cell")
    try:
        codes = [str(OP_CODES[op]) for op in operations[1:-1]]
    except KeyError as err:
        raise ValueError(f"unknown operation {err.args[0]!r}") from None
    return {
        "num_vertices": dim,
        "num_edges": raw_adjacency.count("1"),
        "adj_upper_bits": "".join(row[i + 1:] for i, row in enumerate(rows)),
        "ops": ",".join(codes),
    }


def _parse_record(record: bytes) -> tuple[str, int, str, str, dict[str, Any]]:
    module_hash, epochs, raw_adjacency, raw_operations, raw_metrics = json.loads(
        record.decode("utf-8"))
    metrics = decode_model_metrics(base64.b64decode(raw_metrics, validate=True))
    if not metrics["evaluation_data"]:
        raise ValueError("ModelMetrics has no evaluation_data")
    return str(module_hash), int(epochs), raw_adjacency, raw_operations, metrics


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _build_frame(cells: dict[str, dict[str, Any]], budgets: set[int]) -> pd.DataFrame:
    epochs = sorted(budgets)
    time_budget = 108 if 108 in budgets else epochs[-1]
    rows = []
    for module_hash in sorted(cells):
        cell = cells[module_hash]
        runs = cell["runs"]
        row: dict[str, Any] = {}
        for budget in epochs:
            finals = runs.get(budget, [])
            row[f"{budget}_final_validation_accuracy"] = _mean(
                [f["validation_accuracy"] for f in finals])
        row["final_training_time"] = _mean(
            [f["training_time"] for f in runs.get(time_budget, [])])
        row["trainable_parameters"] = cell["trainable_parameters"]
        row["hash"] = module_hash
        row.update(cell["fixed"])
        for budget in epochs:
            finals = runs.get(budget, [])
            for split in ("test", "train"):
                row[f"{budget}_final_{split}_accuracy"] = _mean(
                    [f[f"{split}_accuracy"] for f in finals])
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.astype({"trainable_parameters": "int64", "num_vertices": "int64",
                         "num_edges": "int64"})


def import_nb101_tfrecord(src: str | os.PathLike, dest: str | os.PathLike | None = None,
                          *, progress: bool = True) -> pd.DataFrame:
    """Imports an official NAS-Bench-101 TFRecord file into a per-cell table.

    Accuracies are the ``final`` (last ``EvaluationData``) values averaged over
    the repeats of each (cell, epoch budget).

    Args:
        src: Path to ``nasbench_only108.tfrecord`` or ``nasbench_full.tfrecord``.
        dest: Optional Parquet output path, written atomically.
        progress: Whether to show a tqdm progress bar.

    Returns:
        One row per cell, sorted by hash, with columns
        ``{E}_final_validation_accuracy`` for each epoch budget E present,
        ``final_training_time`` (mean at 108 epochs, or the largest budget),
        ``trainable_parameters``, ``hash``, ``num_vertices``, ``num_edges``,
        ``adj_upper_bits`` (str), ``ops`` (str of interior op codes:
        0 = conv3x3-bn-relu, 1 = conv1x1-bn-relu, 2 = maxpool3x3), then
        ``{E}_final_test_accuracy`` and ``{E}_final_train_accuracy``.

    Raises:
        DataMissingError: (a ``FileNotFoundError``) If ``src`` does not exist.
        CorruptDataError: (a ``ValueError``) If ``src`` is not a valid
            NAS-Bench-101 TFRecord file.
    """
    path = os.fspath(src)
    if not os.path.isfile(path):
        raise DataMissingError(
            f"NAS-Bench-101 file not found: {path!r}. Download nasbench_only108.tfrecord "
            f"or nasbench_full.tfrecord from the NAS-Bench-101 download page ({NB101_URL})."
        )
    warnings.warn(f"Reading NAS-Bench-101 TFRecord file {path}", stacklevel=2)

    cells: dict[str, dict[str, Any]] = {}
    budgets: set[int] = set()
    bar = tqdm(total=os.path.getsize(path), unit="B", unit_scale=True,
               desc="NAS-Bench-101", disable=not progress)
    with bar:
        for index, record in enumerate(iter_records(path)):
            bar.update(len(record) + 16)
            try:
                module_hash, epochs, raw_adjacency, raw_operations, metrics = (
                    _parse_record(record))
                cell = cells.get(module_hash)
                if cell is None:
                    cell = cells[module_hash] = {
                        "raw": (raw_adjacency, raw_operations),
                        "fixed": _parse_cell(raw_adjacency, raw_operations),
                        "trainable_parameters": metrics["trainable_parameters"],
                        "runs": {},
                    }
                elif cell["raw"] != (raw_adjacency, raw_operations):
                    raise ValueError(f"cell {module_hash} has inconsistent records")
            except (ValueError, TypeError, KeyError, binascii.Error) as err:
                raise CorruptDataError(
                    f"{path}: record {index} is not a NAS-Bench-101 record: {err}"
                ) from err
            budgets.add(epochs)
            cell["runs"].setdefault(epochs, []).append(metrics["evaluation_data"][-1])

    if not cells:
        raise CorruptDataError(f"{path}: contains no NAS-Bench-101 records")
    frame = _build_frame(cells, budgets)
    if dest is not None:
        write_table_atomic(frame, dest)
    return frame
