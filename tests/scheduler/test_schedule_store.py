"""Schedule state in the SQLite backend: claims, stale claims of dead holders, pauses and their end."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.backends.sqlite import SqliteBackend
from controller.config.models import RunMode
from controller.cron import parse_cron
from controller.platforms.embedded import EmbeddedPlatform
from controller.scheduler import Schedule, Scheduler

T0 = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)


@pytest.fixture
def target(tmp_path: Path) -> SqliteBackend:
    t = SqliteBackend("dev", tmp_path / "dev.db")
    t.init()
    yield t
    t.close()


def _insert_claim(target: SqliteBackend, pid: int, host: str, expires: str) -> None:
    with target.transaction() as conn:
        conn.execute("INSERT INTO schedule_runs VALUES ('entra-users', 'other', 'scheduler elsewhere', ?, ?, "
                     "'2026-03-02T08:00:00Z', ?)", (pid, host, expires))


def _due(target: SqliteBackend) -> None:
    target.store().schedules.ensure("inc", "entra-users", "0 0/15 * * * ?", "UTC", T0, T0 - timedelta(minutes=5))


def test_claim_is_compare_and_set(target: SqliteBackend) -> None:
    _due(target)
    store = target.store().schedules
    nxt = T0 + timedelta(minutes=15)
    assert store.claim("inc", "entra-users", T0, nxt, "me", T0, 3600) == "claimed"
    assert store.claim("inc", "entra-users", T0, nxt, "me", T0, 3600) == "taken"
    assert store.running()["entra-users"].holder == "me"
    store.finish("inc", "entra-users", "me", run_id="r1", state="SUCCESS", message=None, now=T0)
    assert store.running() == {}


def test_live_claim_on_another_host_makes_the_mapping_busy(target: SqliteBackend) -> None:
    _due(target)
    _insert_claim(target, 1, "another-host", "2026-03-02T09:00:00Z")
    assert target.store().schedules.claim("inc", "entra-users", T0, None, "me", T0, 3600) == "busy"
    assert target.store().schedules.get("inc").next_fire == T0  # type: ignore[union-attr]  # still due


def test_expired_claim_belongs_to_nobody(target: SqliteBackend) -> None:
    _due(target)
    _insert_claim(target, 1, "another-host", "2026-03-02T08:10:00Z")
    assert target.store().schedules.claim("inc", "entra-users", T0, None, "me", T0, 3600) == "claimed"


def test_claim_of_a_dead_process_on_this_host_is_taken_over(target: SqliteBackend) -> None:
    _due(target)
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    _insert_claim(target, int(done.stdout), socket.gethostname(), "2026-03-02T20:00:00Z")
    assert target.store().schedules.claim("inc", "entra-users", T0, None, "me", T0, 3600) == "claimed"


def test_a_successful_allow_deletes_run_resumes_a_paused_schedule(target: SqliteBackend) -> None:
    store = target.store().schedules
    schedule = Schedule("inc", "entra-users", parse_cron("0 0/15 * * * ?"), RunMode.INCREMENTAL, "UTC", True,
                        "fireAndProceed")
    platform = EmbeddedPlatform(target.path.parent, target)
    clock_now = [T0]

    class Clock:
        def now(self) -> datetime:
            return clock_now[0]

        def sleep(self, seconds: float, stop: object) -> None:
            raise AssertionError("not used")

    results = iter(["BLOCKED", "SUCCESS"])
    s = Scheduler([schedule], store, lambda m, mode: {"id": "r", "state": next(results)}, Clock(),
                  overridden_since=platform.overridden_since)
    _due(target)
    assert [r["state"] for r in s.tick()] == ["BLOCKED"]
    assert store.get("inc").paused  # type: ignore[union-attr]
    clock_now[0] = T0 + timedelta(minutes=40)
    assert s.tick() == []
    # A person reruns it: `idmctl reconcile --mapping entra-users --allow-deletes 50` succeeds (audited).
    assert not platform.overridden_since("entra-users", T0)
    target.audit("allow-deletes", "reconcile entra-users: --allow-deletes 50 (47 deletes/unlinks)",
                 details={"run": "run-override", "mapping": "entra-users", "allowed": 50, "deletes": 47})
    assert not platform.overridden_since("other-mapping", T0)
    clock_now[0] = T0 + timedelta(minutes=45)
    assert [r["state"] for r in s.tick()] == ["SUCCESS"]
    assert not store.get("inc").paused  # type: ignore[union-attr]
