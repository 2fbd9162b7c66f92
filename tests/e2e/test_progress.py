"""Long runs say how far they got: a line every few seconds on stderr without a terminal (CI, systemd)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from controller.cli import reconcile as reconcile_cli
from controller.cli._common import make_output
from controller.emulator import Emulator


def test_progress_lines_come_once_per_interval(capsys: pytest.CaptureFixture[str]) -> None:
    now = [100.0]
    lines = reconcile_cli.ProgressLines(make_output(), "entra-users", interval=5, clock=lambda: now[0])
    for t, done in ((101, 5000), (104.9, 10000), (105, 15000), (107, 20000), (111, 25000)):
        now[0] = t
        lines("source", done, None)
    lines("target", 25001, 30000)  # same instant: not yet
    now[0] = 116
    lines("target", 26000, 30000)
    assert capsys.readouterr().err.splitlines() == [
        "reconcile entra-users: source phase, 15,000 objects, 5 s",
        "reconcile entra-users: source phase, 25,000 objects, 11 s",
        "reconcile entra-users: target phase, 26,000 objects (of 30,000), 16 s",
    ]


def test_a_run_without_a_terminal_prints_progress_lines(emulator: Emulator, idm: Callable[..., Any],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    env = idm(emulator, source_filter=None)
    monkeypatch.setattr(reconcile_cli, "PROGRESS_INTERVAL", 0.0)  # every update, instead of every 5 s
    result = env.cli("reconcile", "--env", "demo", "--mapping", "entra-users")
    assert result.code in (0, 4), result.text
    progress = [line for line in result.err.splitlines() if line.startswith("reconcile entra-users: ")]
    assert progress and "source phase" in progress[0] and " objects" in progress[0]
    quiet = env.cli("reconcile", "--env", "demo", "--mapping", "entra-users", "-q")
    assert "reconcile entra-users: " not in quiet.err


def test_scheduled_runs_print_progress_lines_too(emulator: Emulator, idm: Callable[..., Any],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    env = idm(emulator, source_filter=None)
    monkeypatch.setattr(reconcile_cli, "PROGRESS_INTERVAL", 0.0)
    assert env.cli("schedule", "list", "--env", "demo", "--json").code == 0  # the schedule is applied
    # Make the schedule due now: a fire time in the past, as after downtime (fireAndProceed runs it once).

    conn = sqlite3.connect(env.db)
    try:
        conn.execute("INSERT OR REPLACE INTO schedule_state (name, mapping, cron, time_zone, next_fire, updated) "
                     "VALUES ('entra-incremental', 'entra-users', '0 0/15 * * * ?', 'UTC', '2026-01-01T00:00:00Z', "
                     "'2026-01-01T00:00:00Z')")
        conn.commit()
    finally:
        conn.close()
    result = env.cli("schedule", "run", "--env", "demo", "--once")
    assert result.code in (0, 4), result.text
    assert any(line.startswith("reconcile entra-users: ") for line in result.err.splitlines()), result.err
