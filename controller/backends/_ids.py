"""Managed-object ids: time-ordered UUIDs, made by the engine before it writes (so links can name them)."""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_object_id", "new_object_ids"]

_id_lock = threading.Lock()
_id_last = 0
_VERSION = 0x7 << 76
_VARIANT = 0x2 << 62


def new_object_id() -> str:
    """A new managed-object id: a time-ordered UUID (RFC 9562 version 7) as canonical text.

    Ids that sort by creation time keep inserts into the ``alpha_user`` primary key and the links'
    ``UNIQUE (mapping, target_id)`` at the right edge of their B-trees instead of scattering page
    writes over the whole file, as random (version 4) ids do. 48 bits of Unix milliseconds, then 74
    random bits; ids made within the same millisecond count up from the first one's random bits
    (RFC 9562, 6.2 method 2), so they stay unique and ordered within one process.
    """
    global _id_last
    ms = time.time_ns() // 1_000_000
    with _id_lock:
        # Within one millisecond: count up (a carry reaches the timestamp only after 2**74 ids).
        value = _id_last + 1 if ms <= _id_last >> 74 else (ms << 74) | int.from_bytes(os.urandom(10)) >> 6
        _id_last = value
    # Spread the 122 payload bits over the UUID layout: version 7 and variant 0b10 go in between.
    n = ((value >> 74) << 80) | (0x7 << 76) | (((value >> 62) & 0xFFF) << 64) | (0x2 << 62) | (value & ((1 << 62) - 1))
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_object_ids(n: int) -> list[str]:
    """``n`` new managed-object ids at once, in ascending order: the same ids ``new_object_id`` makes
    (version 7, counting up within the millisecond), for one lock, clock read and random draw."""
    global _id_last
    if n <= 0:
        return []
    ms = time.time_ns() // 1_000_000
    with _id_lock:
        first = _id_last + 1 if ms <= _id_last >> 74 else (ms << 74) | int.from_bytes(os.urandom(10)) >> 6
        _id_last = first + n - 1
    return _format_ids(first, n)


_LOW = (1 << 62) - 1
_NODE = (1 << 48) - 1  # the last group: the counter's low 48 bits


def _format_ids(first: int, n: int) -> list[str]:
    """The canonical text of the ids ``first .. first + n - 1`` (122-bit payloads, see ``new_object_id``).

    Everything before the last group (timestamp, version, the payload's next 12 bits, the variant and
    the counter's top 14 bits) changes only when the counter's low 48 bits carry, so it is formatted
    once per run of ids without such a carry, and each id formats only its last 12 hex digits.
    """
    out: list[str] = []
    append = out.append
    value, end = first, first + n
    while value < end:
        high = (((value >> 74) << 16) | (0x7 << 12) | ((value >> 62) & 0xFFF))
        h = f"{high:016x}"
        clock_seq = (_VARIANT | (value & _LOW)) >> 48
        prefix = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{clock_seq:04x}-"
        stop = min(end, (value | _NODE) + 1)
        for v in range(value & _NODE, (stop - 1 & _NODE) + 1):
            append(f"{prefix}{v:012x}")
        value = stop
    return out
