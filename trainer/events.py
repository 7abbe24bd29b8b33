"""A minimal TensorBoard event-file writer for scalars (no tensorboard or protobuf needed).

An event file is a sequence of TFRecords (length, masked CRC-32C of the length, payload,
masked CRC-32C of the payload); each payload is an ``Event`` protobuf. Only the handful of
fields scalars need are encoded here:

    Event      { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5;
                 SessionLog session_log = 6; }
    SessionLog { SessionStatus status = 1; }   // START = 1
    Summary { repeated Value value = 1; }
    Value   { string tag = 1; float simple_value = 2; }
"""

from __future__ import annotations

import math
import socket
import struct
import time
from pathlib import Path


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 as protobuf encodes it
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(step: int, *, wall_time: float, summary: bytes | None = None, file_version: str | None = None) -> bytes:
    body = _varint(1 << 3 | 1) + struct.pack("<d", wall_time) + _varint(2 << 3 | 0) + _varint(step)
    if file_version is not None:
        body += _bytes_field(3, file_version.encode())
    if summary is not None:
        body += _bytes_field(5, summary)
    return body


def _scalar_value(tag: str, value: float) -> bytes:
    return _bytes_field(1, tag.encode()) + _varint(2 << 3 | 5) + struct.pack("<f", value)


class EventWriter:
    """Appends scalar summaries to one ``events.out.tfevents.*`` file in ``folder``."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
        self._file = open(self.path, "ab")
        self._record(_event(0, wall_time=time.time(), file_version="brain.Event:2"))

    def _record(self, payload: bytes) -> None:
        header = struct.pack("<Q", len(payload))
        self._file.write(header + struct.pack("<I", _masked_crc(header)) + payload
                         + struct.pack("<I", _masked_crc(payload)))

    def scalars(self, step: int, values: dict[str, float], wall_time: float | None = None) -> None:
        """One event holding every finite numeric entry of ``values`` as a scalar."""
        summary = b"".join(
            _bytes_field(1, _scalar_value(tag, float(v))) for tag, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        )
        self._record(_event(step, wall_time=time.time() if wall_time is None else wall_time, summary=summary))
        self._file.flush()

    def restart(self, step: int) -> None:
        """Mark a resumed run: TensorBoard then drops events of steps >= ``step`` logged before it."""
        start = _varint(1 << 3 | 0) + _varint(1)
        self._record(_event(step, wall_time=time.time()) + _bytes_field(6, start))
        self._file.flush()

    def close(self) -> None:
        self._file.close()
