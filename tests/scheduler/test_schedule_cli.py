"""`idmctl schedule next|list|run` end to end through ``controller.cli.run`` on a copy of environments/dev."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from controller import commands
from controller.cli import run as cli
from tests.conftest import copy_environment

REPO = Path(__file__).resolve().parents[2]


def test_next_cron_every_15_seconds_prints_times_and_the_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["schedule", "next", "--cron", "*/15 * * * * ?", "--after", "2026-03-02T08:00:00Z"]) == 0
    out, err = capsys.readouterr()
    assert "every 15 seconds" in out
    for stamp in ("08:00:15", "08:00:30", "08:00:45", "08:01:00", "08:01:15"):
        assert stamp in out
    assert "fires every 15 seconds; for every 15 minutes write 0 0/15 * * * ?" in err


def test_next_cron_uses_now_without_after(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["schedule", "next", "--cron", "*/15 * * * * ?", "--json", "--count", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    times = [datetime.fromisoformat(t) for t in report["fireTimes"]]
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == [timedelta(seconds=15)] * 2


def test_next_cron_json_across_spring_forward(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["schedule", "next", "--cron", "0 30 2 * * ?", "--time-zone", "Europe/Berlin",
                "--after", "2026-03-27T12:00", "--count", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["description"] == "at 02:30:00 every day"
    assert report["fireTimes"] == ["2026-03-28T02:30:00+01:00", "2026-03-30T02:30:00+02:00",
                                   "2026-03-31T02:30:00+02:00"]
    assert report["warnings"] == []


def test_next_cron_rejects_unix_cron_with_a_fix(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["schedule", "next", "--cron", "*/15 * * * *"]) == 1
    err = capsys.readouterr().err
    assert "seconds first" in err and "'0 */15 * * * ?'" in err


@pytest.mark.parametrize(
    "argv",
    [["schedule", "next"], ["schedule", "next", "--cron", "0 0 12 * * ?", "--env", "dev"],
     ["schedule", "next", "--cron", "0 0 12 * * ?", "--time-zone", "Mars/Base"],
     ["schedule", "next", "--cron", "0 0 12 * * ?", "--after", "yesterday"]],
)
def test_next_usage_errors_exit_1(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(argv) == 1
    assert capsys.readouterr().err.startswith("error: ")


@pytest.fixture
def applied_dev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository root with environments/dev initialised and applied (secret deliberately unset)."""
    copy_environment("dev", tmp_path)
    monkeypatch.delenv("ENTRA_CLIENT_SECRET", raising=False)
    commands.init(tmp_path, "dev")
    commands.apply(tmp_path, "dev", approve=lambda plan: True)
    return tmp_path


def test_list_shows_applied_schedules(
    applied_dev: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert cli(["schedule", "list", "--env", "dev", "--root", str(applied_dev), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    (row,) = status["schedules"]
    assert row["name"] == "entra-incremental" and row["mapping"] == "entra-users"
    assert row["cron"] == "0 0/15 * * * ?" and row["description"] == "every 15 minutes, at second 0"
    assert row["lastRunState"] is None and row["paused"] is False and row["nextFire"]
    assert cli(["schedule", "list", "--env", "dev", "--root", str(applied_dev)]) == 0
    out = capsys.readouterr().out
    assert "entra-incremental" in out and "every 15 minutes" in out


def test_next_for_a_named_schedule(applied_dev: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["schedule", "next", "--env", "dev", "--root", str(applied_dev), "entra-incremental",
                "--after", "2026-03-02T08:07:30Z", "--count", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["source"] == "applied" and report["mode"] == "incremental"
    assert report["fireTimes"] == ["2026-03-02T08:15:00+00:00", "2026-03-02T08:30:00+00:00"]
    assert cli(["schedule", "next", "--env", "dev", "--root", str(applied_dev), "nope"]) == 1
    assert "no schedule 'nope'" in capsys.readouterr().err


def test_run_once_fires_a_due_schedule_and_logs_one_json_line(
    applied_dev: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(applied_dev)
    assert cli(["schedule", "run", "--env", "dev", "--root", root, "--once", "--json"]) == 0
    assert capsys.readouterr().out == ""  # first sight: waits for the next fire time
    db = sqlite3.connect(applied_dev / ".idmctl" / "dev.db")
    with db:
        db.execute("UPDATE schedule_state SET next_fire = '2026-01-01T00:00:00Z'")  # long overdue
    db.close()
    # The run starts for real and fails: the client secret is not set in this test's environment.
    assert cli(["schedule", "run", "--env", "dev", "--root", root, "--once", "--json"]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert record["event"] == "run" and record["schedule"] == "entra-incremental"
    assert record["state"] == "FAILED" and "ENTRA_CLIENT_SECRET" in record["message"]
    assert record["scheduled"] == "2026-01-01T00:00:00Z"  # misfire, fireAndProceed: once, now
    assert cli(["schedule", "list", "--env", "dev", "--root", root, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["schedules"]
    assert row["lastRunState"] == "FAILED" and row["lastFire"] == "2026-01-01T00:00:00Z"
