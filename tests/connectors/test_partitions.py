"""Partitioned full reads (readConcurrency > 1): every user exactly once, whatever its UPN begins with.

Against the emulator: users whose UPN begins with every character a UPN may begin with (both cases),
one beginning with a character Graph does not allow (the catch-all's), and one whose createdDateTime is
null. No timing is asserted.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.connectors.msgraph._partitions import (
    LIKELY_LARGEST,
    UPN_FIRST_CHARACTERS,
    ThrottleGate,
    read_partitions,
    upn_partitions,
)
from controller.errors import GraphError

SELECT = ["userPrincipalName", "createdDateTime"]


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Any]:
    """An emulator whose tenant also holds users for every allowed first character of a UPN (letters in
    both cases), one outside that alphabet (the catch-all's), and one with a null createdDateTime."""
    from controller.emulator import DEFAULT_DOMAIN, Emulator

    chars = UPN_FIRST_CHARACTERS + "".join(c.upper() for c in UPN_FIRST_CHARACTERS if c.isalpha())
    users: list[dict[str, Any]] = [{"userPrincipalName": f"{c}p{i}@{DEFAULT_DOMAIN}", "displayName": f"P {i}"}
                                   for i, c in enumerate(chars)]
    users.append({"userPrincipalName": f"\u00e9lodie@{DEFAULT_DOMAIN}", "displayName": "Outside"})
    users.append({"userPrincipalName": f"old.timer@{DEFAULT_DOMAIN}", "displayName": "Old", "createdDateTime": None})
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"value": users}), "utf-8")
    with Emulator(tmp_path / "emu", users=path) as emu:
        old = emu.get_user(f"old.timer@{DEFAULT_DOMAIN}")
        assert old is not None and old.get("createdDateTime") is None
        yield emu


def _all_ids(connector: Any) -> list[str]:
    return [u["id"] for page in connector.iter_users(SELECT, page_size=999) for u in page]


def test_each_user_is_in_exactly_one_partition(emulator: Any, connect: Any) -> None:
    connector = connect(emulator, page_size=7)
    everyone = _all_ids(connector)
    assert len(everyone) == len(set(everyone))
    counts: Counter[str] = Counter()
    for part in upn_partitions():
        counts.update(u["id"] for page in connector._partition_pages(SELECT, part) for u in page)
    assert set(counts) == set(everyone)
    assert [uid for uid, n in counts.items() if n != 1] == []


def test_the_likely_largest_partitions_are_read_first() -> None:
    names = [part.name for part in upn_partitions()]
    assert names[:len(LIKELY_LARGEST)] == list(LIKELY_LARGEST) and names[-1] == "other"
    # the order changes nothing else: each allowed first character once
    assert sorted(names[:-1]) == sorted(UPN_FIRST_CHARACTERS) and len(names) == len(set(names))


@pytest.mark.parametrize("concurrency", [2, 8])
def test_partitioned_read_lists_every_user_once(emulator: Any, connect: Any, concurrency: int) -> None:
    sequential = connect(emulator)
    partitioned = connect(emulator, read_concurrency=concurrency, page_size=5)
    assert partitioned.partitioned and not sequential.partitioned
    expected = _all_ids(sequential)
    seen = [u["id"] for page in partitioned.iter_users(SELECT) for u in page]
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(expected)
    catch_all = upn_partitions()[-1]
    assert catch_all.advanced and catch_all.name == "other"
    other = [u["userPrincipalName"] for page in partitioned._partition_pages(SELECT, catch_all) for u in page]
    assert other == [f"\u00e9lodie@{emulator.domain}"]


def test_partitions_and_the_pushdown(emulator: Any, connect: Any) -> None:
    partitioned = connect(emulator, read_concurrency=4)
    pushdown = "accountEnabled eq true"
    expected = sorted(u["id"] for page in connect(emulator).iter_users(SELECT, pushdown) for u in page)
    got = sorted(u["id"] for page in partitioned.iter_users(SELECT, pushdown) for u in page)
    assert got == expected
    assert all(p.filter.startswith(f"({pushdown}) and ") for p in upn_partitions(pushdown))


def test_a_failed_partition_fails_the_read(emulator: Any, connect: Any) -> None:
    emulator.inject_fault(500, count=None, path="/v1.0/users")
    partitioned = connect(emulator, read_concurrency=4)
    with pytest.raises(GraphError):
        for _ in partitioned.iter_users(SELECT):
            pass


def test_throttling_holds_every_partition(emulator: Any, connect: Any, sleeps: list[float]) -> None:
    emulator.inject_fault(429, retry_after=7, count=1, path="/v1.0/users")
    partitioned = connect(emulator, read_concurrency=4)
    got = [u["id"] for page in partitioned.iter_users(SELECT) for u in page]
    assert sorted(got) == sorted(_all_ids(connect(emulator)))
    # the throttled reader waits its Retry-After (transport), and the gate holds the others too
    assert sleeps.count(7.0) >= 1
    assert len([s for s in sleeps if 0 < s <= 7.0]) >= 2


def test_the_gate_waits_out_the_longest_hold() -> None:
    now = [100.0]
    slept: list[float] = []
    gate = ThrottleGate(sleep=slept.append, clock=lambda: now[0])
    gate.wait()
    gate.hold(5)
    gate.hold(2)
    gate.wait()
    assert slept == [5.0]


def test_read_partitions_hands_each_id_on_once() -> None:
    parts = upn_partitions(characters="ab")
    pages = {"a": [[{"id": "1"}, {"id": "2"}]], "b": [[{"id": "2"}, {"id": "3"}]], "other": [[]]}
    got = [u["id"] for page in read_partitions(parts, lambda p: iter(pages[p.name]), 2) for u in page]
    assert sorted(got) == ["1", "2", "3"]
