"""Managed-object ids: time-ordered UUIDs (version 7), so inserts keep to the end of the B-trees."""

from __future__ import annotations

import time
import uuid

import pytest

from controller.backends import new_object_id
from controller.backends._ids import _format_ids


def test_ids_are_version_7_uuids_in_creation_order() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_object_id() for _ in range(5000)]
    after = time.time_ns() // 1_000_000
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # ordered even within one millisecond
    for text in (ids[0], ids[-1]):
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # canonical lower-case text
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert before <= parsed.int >> 80 <= after  # the first 48 bits are Unix milliseconds


def _payload(text: str) -> int:
    """The 122 payload bits of a version 7 id (the inverse of the layout ``new_object_id`` writes)."""
    n = uuid.UUID(text).int
    return ((n >> 80) << 74) | (((n >> 64) & 0xFFF) << 62) | (n & ((1 << 62) - 1))


@pytest.mark.parametrize("low", [0, (1 << 48) - 2, (1 << 62) - 3, (0xFFF << 62) | ((1 << 62) - 2)],
                         ids=["no-carry", "carry-out-of-the-last-group", "carry-into-the-next-12-bits",
                              "carry-into-the-timestamp"])
def test_ids_made_in_bulk_count_up_across_a_carry_of_the_counter(low: int) -> None:
    """``new_object_ids`` formats all but the last group once per run of the counter's low 48 bits;
    across a carry they change, and each id is still the canonical text of its payload."""
    first = (1_764_000_000_000 << 74) | low
    ids = _format_ids(first, 6)
    assert [_payload(t) for t in ids] == list(range(first, first + 6))
    assert ids == sorted(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 7 and parsed.variant == uuid.RFC_4122
