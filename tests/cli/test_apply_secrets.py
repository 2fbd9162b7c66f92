"""A secret's value is found nowhere: no output format, plan file, state bytes, audit log or error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.backends import open_backend
from controller.cli import run
from controller.config import load_environment


def test_secret_value_is_found_nowhere(state_repo: Path, state_secret: str, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def cli(*argv: str) -> int:
        code = run(list(argv))
        captured = capsys.readouterr()
        seen.extend([captured.out, captured.err])
        return code

    assert cli("init", "--env", "dev") == 0
    for fmt in ("text", "json", "markdown"):
        assert cli("plan", "--env", "dev", "--format", fmt, "-v") == 0
    assert cli("plan", "--env", "dev", "--out", "saved.plan") == 0
    assert cli("apply", "--env", "dev", "--json", "saved.plan") == 0
    # rotate the secret, plan and apply again: the new value must not appear either
    rotated = state_secret + "-rotated"
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", rotated)
    assert cli("plan", "--env", "dev", "--out", "rotate.plan", "--detailed-exitcode") == 2
    assert cli("plan", "--env", "dev", "--format", "markdown") == 0
    assert cli("apply", "--env", "dev", "--auto-approve") == 0
    assert cli("apply", "--env", "dev", "rotate.plan") == 1  # stale: the error message is checked too
    target = open_backend(state_repo, load_environment(state_repo, "dev").resources.environment)
    with target.lock("leak test", timeout=0):
        assert cli("apply", "--env", "dev", "--auto-approve") == 1  # lock error message
    audit = json.dumps([e.to_dict() for e in target.audit_log()])
    # read while a connection is open: the -wal file exists only until the last one closes
    state_files = sorted((state_repo / ".idmctl").iterdir())
    assert {p.name for p in state_files} >= {"dev.db", "dev.db-wal"}
    blobs = [p.read_bytes() for p in state_files]
    target.close()
    assert "(sensitive)" in "".join(seen)
    blobs += [s.encode() for s in seen] + [audit.encode()]
    blobs += [(state_repo / name).read_bytes() for name in ("saved.plan", "rotate.plan")]
    for value in (state_secret, rotated):
        for blob in blobs:
            assert value.encode() not in blob
            assert value.encode("utf-16-le") not in blob
