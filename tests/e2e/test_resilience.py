"""Large runs under stress: Graph throttling mid-run, a process killed (SIGKILL) at several points, SIGTERM.

The kills and signals need a process of their own: `python -m controller reconcile ...` runs as a
subprocess against an emulator in this process, and the test watches its progress through the SQLite
file (read-only) to kill it after batches have committed. "Converged" compares what a user cares
about — ``{userName: properties}`` and the links ``{sourceId: userName}`` — with a store that an
uninterrupted run filled, never generated ids or timestamps.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.emulator import Emulator

RECONCILE = ("reconcile", "--env", "demo", "--mapping", "entra-users")


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _count(db: Path) -> int:
    return int(_query(db, "SELECT count(*) FROM alpha_user")[0][0])


def _converged_view(db: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """``({userName: properties}, {sourceId: userName})``, after checking there is no duplicate or dangling row."""
    objects = {oid: json.loads(props) for oid, props in _query(db, "SELECT id, properties FROM alpha_user")}
    links = _query(db, "SELECT source_id, target_id FROM links WHERE mapping = 'entra-users'")
    assert len({t for _, t in links}) == len(links), "a managed object is linked twice"
    assert all(t in objects for _, t in links), "a link points at no managed object"
    assert len(links) == len(objects), "a managed object has no link"
    by_name = {p["userName"]: p for p in objects.values()}
    assert len(by_name) == len(objects), "two managed objects share a userName"
    return by_name, {s: objects[t]["userName"] for s, t in links}


def _kill_when(proc: subprocess.Popen[str], ready: Callable[[], bool], sig: int = signal.SIGKILL) -> bool:
    """Send ``sig`` once ``ready()`` holds; False when the run finished first (nothing was interrupted)."""
    while proc.poll() is None:
        try:
            hit = ready()
        except sqlite3.OperationalError:
            hit = False  # the writer holds the file for a moment
        if hit:
            proc.send_signal(sig)
            proc.communicate(timeout=60)
            return True
        time.sleep(0.02)
    proc.communicate(timeout=60)
    return False


def _unlock_after_kill(env: Any, pid: int) -> None:
    """What the operator does after a crash: the lock names the dead process; force-unlock it."""
    held = env.cli(*RECONCILE, "--lock-timeout", "0")
    assert held.code == 1 and f"pid {pid} " in held.err, held.text
    lock_id = re.search(r"lock id ([0-9a-f-]{36})", held.err).group(1)  # type: ignore[union-attr]
    assert env.cli("force-unlock", "--env", "demo", lock_id).code == 0


@pytest.fixture
def big_emulator(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An emulator with 20,000 generated users only (no conference rooms): every account can be stored."""
    with Emulator(tmp_path_factory.mktemp("emulator-big"), generate=20000, seed_sample=False) as emu:
        yield emu


def test_throttled_page_is_retried_and_the_run_succeeds(tmp_path_factory: pytest.TempPathFactory,
                                                       idm: Any) -> None:
    with Emulator(tmp_path_factory.mktemp("emulator-throttle"), generate=3000, seed_sample=False) as emu:
        env = idm(emu, source_filter=None)
        # GET /v1.0/users...: the delta link first, then pages of 999; the third page is throttled.
        emu.inject_fault(429, retry_after=1, path="/v1.0/users", method="GET", skip=3)
        code, run = env.reconcile()
        assert code == 0, run["reason"]
        assert emu.faults.list() == []  # the 429 was served
        assert run["state"] == "SUCCESS" and run["processed"] == 3000
        assert run["actions"] == {"CREATE": 3000} and run["failures"] == 0
        assert len(env.store_rows()["alpha_user"]) == 3000


@pytest.mark.parametrize(("fault", "words"), [
    ({"kind": "body", "body": '{"value": [{"displayName": "No Id"}]}'}, "item 0 of 'value' has no 'id'"),
    ({"kind": "next-link-loop", "count": None}, "following it would never end"),
], ids=["user-without-id", "next-link-loop"])
def test_a_broken_listing_fails_the_run_with_a_typed_reason_and_frees_the_lock(
        tmp_path_factory: pytest.TempPathFactory, idm: Any, fault: dict[str, Any], words: str) -> None:
    with Emulator(tmp_path_factory.mktemp("emulator-broken"), generate=1500, seed_sample=False) as emu:
        env = idm(emu, source_filter=None)
        # The delta link, then page 1 of the users; page 2 is broken.
        emu.inject_fault(path="/v1.0/users", method="GET", skip=2, **fault)
        code, run = env.reconcile()
        assert code == 1 and run["state"] == "FAILED", run
        assert words in run["reason"] and "internal error" not in run["reason"], run["reason"]
        emu.clear_faults()
        code, run = env.reconcile("--lock-timeout", "0")  # the failed run left no lock behind
        assert code == 0 and run["state"] == "SUCCESS" and run["processed"] == 1500, run


@pytest.mark.slow
def test_sigkill_at_several_points_converges_to_an_uninterrupted_run(big_emulator: Emulator, idm: Any) -> None:
    emu = big_emulator
    crashed = idm(emu, source_filter=None)
    db = crashed.db
    page = 999  # the connector's pageSize: one committed batch
    kills = 0

    # 1. Killed after the first batches commit.
    proc = crashed.spawn(*RECONCILE)
    kills += _kill_when(proc, lambda: _count(db) >= page)
    first = _count(db)
    assert 0 < first < 20000 and first % page == 0  # whole batches only
    assert _query(db, "SELECT count(*) FROM sync_tokens") == [(0,)]  # no delta link ahead of the data
    assert _query(db, "SELECT state FROM recon_runs") == [("ACTIVE",)]  # the killed run never closed
    _converged_view(db)  # what was committed is whole: each object with its link
    _unlock_after_kill(crashed, proc.pid)

    # Entra ID changes between the crashes: renamed people must come out renamed.
    renamed = sorted(_converged_view(db)[1])[:50]
    for sid in renamed:
        emu.update_user(sid, {"givenName": "Renamed"})

    # 2. Killed in the middle, 3. killed once every object is written but before the run closes.
    closed_first = 0  # runs the last kill point missed: they closed before the signal landed or the poll
    for ready in (lambda: _count(db) >= first + 5 * page, lambda: _count(db) >= 20000):
        proc = crashed.spawn(*RECONCILE)
        killed = _kill_when(proc, ready)
        last_state = _query(db, "SELECT state FROM recon_runs ORDER BY started DESC LIMIT 1")
        if not killed or last_state == [("SUCCESS",)]:
            # The run ended before the poll saw it ready, or wrote its last batch and closed (delta link
            # with it) between the check and the signal: nothing was interrupted, but in the second
            # case the process may have died still holding the lock.
            assert last_state == [("SUCCESS",)]
            closed_first += 1
            assert _query(db, "SELECT count(*) FROM sync_tokens") == [(1,)]
            if _query(db, "SELECT count(*) FROM env_lock") != [(0,)]:
                _unlock_after_kill(crashed, proc.pid)
            continue
        kills += 1
        assert _query(db, "SELECT count(*) FROM sync_tokens") == [(0,)]
        _converged_view(db)
        _unlock_after_kill(crashed, proc.pid)
    assert kills >= 2  # the last kill point can be missed on a fast machine; the first two cannot

    # Rerun to completion.
    code, run = crashed.reconcile()
    assert code == 0, run["reason"]
    states = [r["state"] for r in crashed.json("runs", "list", "--env", "demo")]
    assert states.count("SUCCESS") == 1 + closed_first and states.count("FAILED") == kills
    assert states[0] == "SUCCESS" and len(states) == kills + closed_first + 1
    if not closed_first:
        assert any("had been interrupted; it is now marked FAILED" in w for w in run["warnings"])
    assert _query(db, "SELECT count(*) FROM sync_tokens") == [(1,)]

    # The same tenant into a separate state, never interrupted.
    reference = idm(emu, source_filter=None)
    code, ref_run = reference.reconcile()
    assert code == 0 and ref_run["actions"] == {"CREATE": 20000}
    objects, links = _converged_view(db)
    assert (objects, links) == _converged_view(reference.db)
    assert len(objects) == 20000 and sum(p["givenName"] == "Renamed" for p in objects.values()) == 50

    # 4. An incremental run killed half-way leaves the stored delta link where it was: the rerun sees
    # every change again.
    link_before = _query(db, "SELECT delta_link FROM sync_tokens")
    # More changes than two of the run's batches (5,000 changes each: an incremental run commits per
    # batch, not per page), so the kill can land between two commits.
    changed = sorted(links)[100:12100]
    for sid in changed:
        emu.update_user(sid, {"jobTitle": "x", "surname": "Changed"})
    proc = crashed.spawn(*RECONCILE, "--incremental")
    if _kill_when(proc, lambda: _query(db, "SELECT count(*) FROM alpha_user WHERE rev > 1 AND "
                                           "properties LIKE '%\"Changed\"%'")[0][0] > 0):
        assert _query(db, "SELECT delta_link FROM sync_tokens") == link_before
        _unlock_after_kill(crashed, proc.pid)
    code, run = crashed.reconcile("--incremental")
    assert code == 0 and run["mode"] == "incremental", run["reason"]
    assert reference.reconcile("--incremental")[0] == 0
    objects, links = _converged_view(db)
    assert (objects, links) == _converged_view(reference.db)
    assert sum(p["sn"] == "Changed" for p in objects.values()) == 12000


@pytest.mark.slow
def test_sigterm_cancels_cleanly_and_a_rerun_completes(big_emulator: Emulator, idm: Any) -> None:
    env = idm(big_emulator, source_filter=None)
    proc = env.spawn(*RECONCILE)
    assert _kill_when(proc, lambda: _count(env.db) >= 2 * 999, sig=signal.SIGTERM)
    assert proc.returncode == 1  # the CLI contract: 1 failed or canceled
    [run] = env.json("runs", "list", "--env", "demo")
    assert run["state"] == "CANCELED" and "canceled" in run["reason"]
    assert 0 < _count(env.db) < 20000
    _converged_view(env.db)  # consistent: every object has its link
    assert _query(env.db, "SELECT count(*) FROM sync_tokens") == [(0,)]
    assert _query(env.db, "SELECT count(*) FROM env_lock") == [(0,)]  # the lock was released on the way out

    code, run = env.reconcile("--lock-timeout", "0")
    assert code == 0, run["reason"]
    assert run["warnings"] == []  # a canceled run is closed, not interrupted
    objects, _ = _converged_view(env.db)
    assert len(objects) == 20000
