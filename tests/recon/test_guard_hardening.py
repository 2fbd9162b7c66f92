"""The safety guard holds where attacks got through: --allow-deletes 0, a small mapping emptied
whole, and deletes spread over many runs (safety.window)."""

from __future__ import annotations

from typing import Any

from controller.config.models import RunState
from tests.recon.conftest import FakeGraph, Runner, user

DELETE_MISSING = {"base": "default", "rules": {"LINK_ONLY": "UNLINK", "SOURCE_MISSING": "DELETE"}}


def people(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [user(f"5f1b2c3d-0000-4000-8000-{i:012d}", f"Given{i}", f"Person{i}") for i in range(start, start + n)]


def _setup(recon: Runner, graph: FakeGraph, n: int, **safety: Any) -> list[dict[str, Any]]:
    users = people(n)
    for u in users:
        graph.add(u)
    recon.spec["policies"] = DELETE_MISSING
    recon.spec["safety"] = {"maxDeletes": 500, "maxDeletePercent": 5, "allowEmptySource": False, **safety}
    first = recon()
    assert first.state is RunState.SUCCESS and first.actions == {"CREATE": n}
    return users


def test_allow_deletes_zero_means_zero(recon: Runner, store: Any) -> None:
    graph = recon.graph
    graph.users.clear()
    users = _setup(recon, graph, 8)
    for u in users:
        graph.delete(u["id"])  # the source is empty now
    run = recon(allow_deletes=0)
    assert run.state is RunState.BLOCKED and run.deletes == 8
    assert "--allow-deletes 0 is not enough" in (run.reason or "")
    assert store.count() == 8
    assert recon(allow_deletes=8).state is RunState.SUCCESS and store.count() == 0  # the person's real number


def test_deleting_every_linked_identity_is_blocked_whatever_the_count(recon: Runner, store: Any) -> None:
    graph = recon.graph
    graph.users.clear()
    users = _setup(recon, graph, 9)
    graph.add(user("5f1b2c3d-0000-4000-8000-999999999999", "New", "Hire"))  # not empty: only the 9 left
    for u in users:
        graph.delete(u["id"])
    run = recon()
    assert run.state is RunState.BLOCKED and run.deletes == 9
    assert "every one of the 9 linked objects" in (run.reason or "")
    assert store.count() == 10  # nothing deleted; the new hire's CREATE is what a rerun writes anyway
    recon.spec["safety"]["allowEmptySource"] = True  # the configured way past
    assert recon().state is RunState.SUCCESS and store.count() == 1


def test_deletes_spread_over_runs_are_counted_in_the_window(recon: Runner, store: Any) -> None:
    graph = recon.graph
    graph.users.clear()
    users = _setup(recon, graph, 400, maxDeletes=10, maxDeletePercent=100, window="24h")
    blocked_at = None
    for attempt in range(12):  # twelve runs of 4 deletes each: each under maxDeletes alone
        for u in users[attempt * 4:(attempt + 1) * 4]:
            graph.delete(u["id"])
        run = recon("incremental")
        if run.state is RunState.BLOCKED:
            blocked_at = attempt
            break
        assert run.state is RunState.SUCCESS and run.deletes == 4
    assert blocked_at == 2  # 4 + 4 + 4 = 12 > 10 within 24h
    assert "with the 8 deletes/unlinks of this mapping's runs in the last 24h, 12 exceed safety.maxDeletes" \
        in (run.reason or "")
    assert store.count() == 392
    assert recon("incremental", allow_deletes=4).state is RunState.SUCCESS  # a person lets these through


def test_the_window_counts_percent_too_and_can_be_switched_off(recon: Runner, store: Any) -> None:
    graph = recon.graph
    graph.users.clear()
    users = _setup(recon, graph, 100, maxDeletes=1000, maxDeletePercent=10, window="7d")
    for batch in range(2):  # 6 + 6 of 100: each 6% alone, 12% together
        for u in users[batch * 6:(batch + 1) * 6]:
            graph.delete(u["id"])
        run = recon("incremental")
    assert run.state is RunState.BLOCKED and "12.0% of the 100 objects linked before them" in (run.reason or "")
    recon.spec["safety"]["window"] = None
    assert recon("incremental").state is RunState.SUCCESS and store.count() == 88
