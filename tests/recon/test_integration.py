"""Reconciliation end to end through the CLI, the Graph connector and the emulator (real HTTPS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controller.cli import run as cli


@pytest.fixture
def demo(tmp_path: Path, emulator: Any, demo_repo: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configuration repository with environments/demo pointed at this test's emulator."""
    root = demo_repo(tmp_path / "repo", emulator)
    monkeypatch.chdir(root)
    monkeypatch.delenv("IDMCTL_ROOT", raising=False)
    assert cli(["init", "--env", "demo"]) == 0
    assert cli(["apply", "--env", "demo", "--auto-approve"]) == 0
    return root


def reconcile(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = cli(["reconcile", "--env", "demo", "--mapping", "entra-users", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_seed_flow_full_then_incremental(demo: Path, emulator: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, run = reconcile(capsys)
    assert code == 0, run["reason"]
    assert run["state"] == "SUCCESS" and run["mode"] == "full"
    assert run["situations"] == {"ABSENT": 1} and run["actions"] == {"CREATE": 1}
    assert run["failures"] == 0 and set(run) >= {"id", "mapping", "processed", "started", "ended", "durationMs"}

    assert cli(["identities", "search", "--env", "demo", 'mail eq "SCARTER@example.com"', "--json"]) == 0
    [identity] = json.loads(capsys.readouterr().out)
    assert identity["givenName"] == "Sam" and identity["sn"] == "Carter" and identity["accountStatus"] == "active"

    user = emulator.get_user(identity["userName"])
    emulator.update_user(user["id"], {"givenName": "Samantha"})
    code, run = reconcile(capsys, "--incremental")
    assert code == 0 and run["mode"] == "incremental"
    assert run["situations"] == {"CONFIRMED": 1} and run["actions"] == {"UPDATE": 1}
    assert cli(["identities", "get", "--env", "demo", identity["_id"], "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["givenName"] == "Samantha" and got["_rev"] == 2
    assert got["_links"] == [{"mapping": "entra-users", "sourceId": user["id"]}]

    assert cli(["runs", "show", "--env", "demo", run["id"], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["entries"][0]["changes"] == {"givenName": ["Sam", "Samantha"]}


def test_link_only_after_identities_delete_and_entra_delete(demo: Path, emulator: Any,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    reconcile(capsys)
    assert cli(["identities", "search", "--env", "demo", "--json"]) == 0
    [identity] = json.loads(capsys.readouterr().out)
    assert cli(["identities", "delete", "--env", "demo", identity["_id"], "--yes"]) == 0
    user = emulator.get_user(identity["userName"])
    emulator.delete_user(user["id"])
    code, run = reconcile(capsys, "--incremental")
    assert code == 0, run
    assert run["situations"] == {"LINK_ONLY": 1} and run["actions"] == {"UNLINK": 1}
    assert cli(["runs", "list", "--env", "demo", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_dry_run_and_second_run(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli(["reconcile", "--env", "demo", "--mapping", "entra-users", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "+ create scarter@" in out and "nothing was written" in out
    assert cli(["runs", "list", "--env", "demo", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    reconcile(capsys)
    code, run = reconcile(capsys)
    assert code == 0 and run["situations"] == {"CONFIRMED": 1} and run["entries"] == 0
