"""`idmctl apply`: saved plans applied exactly, stale ones refused, approval, all or nothing, the lock."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from controller.backends import open_backend
from controller.backends.sqlite import SqliteBackend
from controller.cli import run
from controller.config import load_environment

REPO = Path(__file__).resolve().parents[2]


def state_of(root: Path, env: str = "dev"):  # type: ignore[no-untyped-def]
    target = open_backend(root, load_environment(root, env).resources.environment)
    try:
        return target.read_applied(), target.audit_log()
    finally:
        target.close()


@pytest.fixture
def inited(state_repo: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert run(["init", "--env", "dev"]) == 0
    capsys.readouterr()
    return state_repo


def test_saved_plan_applies_exactly(inited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["plan", "--env", "dev", "--out", "first.plan"]) == 0
    capsys.readouterr()
    assert run(["apply", "--env", "dev", "first.plan"]) == 0  # a saved plan needs no approval
    assert "Apply complete! Resources: 5 added, 0 changed, 0 destroyed. State serial 1." in capsys.readouterr().out
    state, audit = state_of(inited)
    saved = json.loads((inited / "first.plan").read_text())
    assert state.resources == {c["address"]: c["after"] for c in saved["plan"]["changes"]}
    assert audit[0].plan_hash == saved["plan_hash"] and audit[0].action == "apply"
    assert run(["plan", "--env", "dev", "--detailed-exitcode"]) == 0


def test_plan_saved_before_a_file_edit_is_stale(inited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["plan", "--env", "dev", "--out", "p.plan"]) == 0
    schedule = inited / "environments/dev/schedule.yaml"
    schedule.write_text(schedule.read_text().replace("enabled: true", "enabled: false"))
    capsys.readouterr()
    assert run(["apply", "--env", "dev", "p.plan"]) == 1
    err = capsys.readouterr().err
    assert "saved plan p.plan is stale" in err and "files of environments/dev" in err
    assert "idmctl plan --env dev --out p.plan" in err
    assert state_of(inited)[0].serial == 0


def test_plan_saved_before_another_apply_is_stale(inited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["plan", "--env", "dev", "--out", "old.plan"]) == 0
    assert run(["apply", "--env", "dev", "--auto-approve"]) == 0
    capsys.readouterr()
    assert run(["apply", "--env", "dev", "old.plan"]) == 1
    err = capsys.readouterr().err
    assert "made at state serial 0" in err and "now at serial 1" in err
    assert state_of(inited)[0].serial == 1


def test_plan_for_another_environment_is_refused(state_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(["init", "--env", "dev"])
    run(["init", "--env", "prod"])
    assert run(["plan", "--env", "prod", "--out", "prod.plan"]) == 0
    capsys.readouterr()
    assert run(["apply", "--env", "dev", "prod.plan"]) == 1
    assert "is a plan for environment 'prod'" in capsys.readouterr().err


def test_without_a_terminal_apply_refuses_rather_than_saying_yes(
        inited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["apply", "--env", "dev"]) == 1
    captured = capsys.readouterr()
    assert "Plan: 5 to add" in captured.out  # shown first, as Terraform does
    assert "--auto-approve" in captured.err and "nothing was changed" in captured.err
    assert state_of(inited)[0].serial == 0


def test_failed_apply_leaves_state_as_it_was(inited: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(["apply", "--env", "dev", "--auto-approve"]) == 0
    before, audit_before = state_of(inited)
    (inited / "environments/dev/schedule.yaml").unlink()
    mapping = inited / "environments/dev/mapping.yaml"
    mapping.write_text(mapping.read_text().replace("maxDeletes: 500", "maxDeletes: 50"))
    original = SqliteBackend._write_resource
    calls: list[str] = []

    def fail_after_first_row(self, conn, address, canonical):  # type: ignore[no-untyped-def]
        if calls:
            raise sqlite3.OperationalError("disk I/O error (injected)")
        calls.append(address)
        original(self, conn, address, canonical)

    monkeypatch.setattr(SqliteBackend, "_write_resource", fail_after_first_row)
    capsys.readouterr()
    assert run(["apply", "--env", "dev", "--auto-approve"]) == 1
    assert "injected" in capsys.readouterr().err
    assert calls == ["Mapping.entra-users"]
    after, audit_after = state_of(inited)
    assert after == before and audit_after == audit_before
    monkeypatch.undo()
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", "Sup3r-S3cret-V4lue-7f1c9e")
    assert state_of(inited)[0].serial == 1
    target = open_backend(inited, load_environment(inited, "dev").resources.environment)
    assert target.current_lock() is None  # the lock was released despite the failure
    target.close()


def test_lock_held_elsewhere_fails_naming_the_holder(inited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = open_backend(inited, load_environment(inited, "dev").resources.environment)
    with target.lock("idmctl reconcile (scheduler)", timeout=0) as lease:
        assert run(["apply", "--env", "dev", "--auto-approve", "--lock-timeout", "0"]) == 1
    target.close()
    err = capsys.readouterr().err
    assert "locked by idmctl reconcile (scheduler)" in err and lease.lock_id in err
    assert f"idmctl force-unlock --env dev {lease.lock_id}" in err
    assert run(["force-unlock", "--env", "dev", "not-a-lock"]) == 1


def test_two_concurrent_applies_serialise_through_the_lock(inited: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "controller", "apply", "--env", "dev", "--auto-approve", "--lock-timeout", "120",
           "--json"]
    procs = [subprocess.Popen(cmd, cwd=inited, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    outcomes = sorted(json.loads(out)["applied"] for out, _ in results)
    assert outcomes == [False, True]  # one applied; the other, under the lock, found nothing left to do
    state, audit = state_of(inited)
    assert state.serial == 1 and [e.action for e in audit] == ["apply"]
