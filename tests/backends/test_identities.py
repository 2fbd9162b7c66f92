"""Managed-object ids: time-ordered UUIDs (version 7), so inserts keep to the end of the B-trees."""

from __future__ import annotations

import time
import uuid

from controller.backends import new_object_id


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
