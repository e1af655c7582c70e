"""Minimal TFRecord reader and writer that does not need TensorFlow.

A TFRecord file is a sequence of records, each framed as::

    uint64  length            (little endian)
    uint32  masked_crc32c(length bytes)
    bytes   data[length]
    uint32  masked_crc32c(data)

The CRC is CRC32C (Castagnoli), masked as
``((crc >> 15 | crc << 17) + 0xa282ead8) & 0xffffffff``.
"""

from __future__ import annotations

import os
import struct
from typing import Iterable, Iterator, Sequence

import numpy as np

from lib.errors import CorruptDataError

_POLY = 0x82F63B78
_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
_BATCH_RECORDS = 4096
_BATCH_CELLS = 1 << 24


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


CRC32C_TABLE = _make_table()
_TABLE_NP = np.array(CRC32C_TABLE, dtype=np.uint32)


def crc32c(data: bytes, crc: int = 0) -> int:
    """Computes the CRC32C (Castagnoli) checksum of ``data``.

    Args:
        data: Bytes to checksum.
        crc: Checksum of preceding data, to continue an incremental computation.

    Returns:
        The unsigned 32-bit CRC32C value.
    """
    table = CRC32C_TABLE
    crc ^= _U32
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _U32


def mask_crc(crc: int) -> int:
    """Applies the TFRecord CRC mask to a raw CRC32C value.

    Args:
        crc: Unsigned 32-bit CRC32C value.

    Returns:
        The masked CRC as stored in TFRecord files.
    """
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32


def masked_crc32c(data: bytes) -> int:
    """Computes the masked CRC32C of ``data`` as used in TFRecord framing.

    Args:
        data: Bytes to checksum.

    Returns:
        The masked unsigned 32-bit checksum.
    """
    return mask_crc(crc32c(data))


def crc32c_many(buffers: Sequence[bytes]) -> np.ndarray:
    """Computes CRC32C for many buffers at once, vectorised across buffers.

    Args:
        buffers: Byte strings to checksum.

    Returns:
        A ``uint32`` array with the CRC32C of each buffer, in input order.
    """
    count = len(buffers)
    if count == 0:
        return np.zeros(0, dtype=np.uint32)
    lengths = np.fromiter(map(len, buffers), dtype=np.int64, count=count)
    order = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths[order]
    width = int(sorted_lengths[0])
    columns = np.zeros((width, count), dtype=np.uint8)
    flat = np.frombuffer(b"".join(buffers[i] for i in order), dtype=np.uint8)
    starts = np.cumsum(sorted_lengths) - sorted_lengths
    rows = np.repeat(np.arange(count), sorted_lengths)
    positions = np.arange(flat.size) - np.repeat(starts, sorted_lengths)
    columns[positions, rows] = flat
    active = np.searchsorted(-sorted_lengths, -np.arange(width), side="left")
    crc = np.full(count, _U32, dtype=np.uint32)
    for pos in range(width):
        n = active[pos]
        head = crc[:n]
        crc[:n] = _TABLE_NP[(head ^ columns[pos, :n]) & 0xFF] ^ (head >> 8)
    result = np.empty(count, dtype=np.uint32)
    result[order] = crc ^ np.uint32(_U32)
    return result


def _mask_many(crc: np.ndarray) -> np.ndarray:
    crc = crc.astype(np.uint32)
    return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(_MASK_DELTA)


def _verify_batch(path: str, batch: list[tuple[int, bytes, int]]) -> None:
    expected = np.fromiter((item[2] for item in batch), dtype=np.uint32, count=len(batch))
    actual = _mask_many(crc32c_many([item[1] for item in batch]))
    bad = np.flatnonzero(actual != expected)
    if bad.size:
        offset = batch[int(bad[0])][0]
        raise CorruptDataError(
            f"{path}: data CRC mismatch in record at byte offset {offset}; "
            "the TFRecord file is corrupt"
        )


def iter_records(path: str | os.PathLike, *, verify: bool = True) -> Iterator[bytes]:
    """Iterates over the records of an uncompressed TFRecord file.

    Length CRCs are checked as each header is read; data CRCs are checked in
    batches (vectorised), so records are yielded in small groups after their
    checksums have been verified.

    Args:
        path: Path to the TFRecord file.
        verify: Whether to verify the CRC checksums.

    Yields:
        The payload bytes of each record, in file order.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        CorruptDataError: (a ``ValueError``) If a record is truncated or a
            checksum does not match; the message names the file and the byte
            offset of the record.
    """
    path = os.fspath(path)
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        offset = 0
        batch: list[tuple[int, bytes, int]] = []
        widest = 0
        while offset < size:
            header = handle.read(_HEADER.size)
            if len(header) < _HEADER.size:
                raise CorruptDataError(
                    f"{path}: truncated record header at byte offset {offset}; "
                    "not a complete TFRecord file"
                )
            length, length_crc = _HEADER.unpack(header)
            if verify and masked_crc32c(header[:8]) != length_crc:
                raise CorruptDataError(
                    f"{path}: length CRC mismatch in record at byte offset {offset}; "
                    "the file is not a valid TFRecord file or is corrupt"
                )
            end = offset + _HEADER.size + length + _FOOTER.size
            if end > size:
                raise CorruptDataError(
                    f"{path}: truncated record at byte offset {offset} "
                    f"(needs {end - size} more bytes)"
                )
            data = handle.read(length)
            (data_crc,) = _FOOTER.unpack(handle.read(_FOOTER.size))
            if not verify:
                yield data
            else:
                batch.append((offset, data, data_crc))
                widest = max(widest, length)
                if len(batch) >= _BATCH_RECORDS or widest * len(batch) >= _BATCH_CELLS:
                    _verify_batch(path, batch)
                    yield from (item[1] for item in batch)
                    batch, widest = [], 0
            offset = end
        if batch:
            _verify_batch(path, batch)
            yield from (item[1] for item in batch)


def encode_record(data: bytes) -> bytes:
    """Frames one payload as a TFRecord record.

    Args:
        data: Record payload.

    Returns:
        The framed record bytes (header, payload, footer).
    """
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


def write_records(path: str | os.PathLike, records: Iterable[bytes]) -> int:
    """Writes payloads to an uncompressed TFRecord file.

    Args:
        path: Destination path; an existing file is overwritten.
        records: Payload byte strings, written in order.

    Returns:
        The number of records written.
    """
    count = 0
    with open(path, "wb") as handle:
        for data in records:
            handle.write(encode_record(bytes(data)))
            count += 1
    return count
