"""`idmctl init` and the hint every other command gives before it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli import run


def test_plan_before_init_fails_with_the_hint(state_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["plan", "--env", "dev"]) == 1
    err = capsys.readouterr().err
    assert "has no state" in err and "idmctl init --env dev" in err
    assert run(["apply", "--env", "dev", "--auto-approve"]) == 1
    assert "idmctl init --env dev" in capsys.readouterr().err
    assert not (state_repo / ".idmctl" / "dev.db").exists()


def test_init_creates_state_once(state_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["init", "--env", "dev"]) == 0
    out = capsys.readouterr().out
    assert "Initialised environment 'dev'" in out and ".idmctl/dev.db" in out
    assert run(["init", "--env", "dev", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["created"] is False and data["serial"] == 0 and data["environment"] == "dev"
    assert run(["init", "--env", "dev"]) == 0
    assert "already initialised" in capsys.readouterr().out
