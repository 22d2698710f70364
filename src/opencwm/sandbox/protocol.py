"""Length-prefixed messages between the host and a sandbox worker.

A message is a 4-byte big-endian length, a JSON header, and optionally a
raw payload whose size the header gives in `nbytes`.
"""

from __future__ import annotations

import json
import os
import struct

_LEN = struct.Struct(">I")


def write_message(fd: int, header: dict, payload: bytes = b"") -> None:
    header = {**header, "nbytes": len(payload)}
    body = json.dumps(header).encode()
    _write_all(fd, _LEN.pack(len(body)) + body + payload)


def read_message(fd: int) -> tuple[dict, bytes] | None:
    """Next message, or None at end of stream."""
    raw = read_exact(fd, _LEN.size)
    if raw is None:
        return None
    (n,) = _LEN.unpack(raw)
    body = read_exact(fd, n)
    if body is None:
        return None
    header = json.loads(body)
    payload = read_exact(fd, header.get("nbytes", 0)) if header.get("nbytes") else b""
    if payload is None:
        return None
    return header, payload


def read_exact(fd: int, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
