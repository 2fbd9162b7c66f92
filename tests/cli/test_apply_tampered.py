"""An edited plan file applies nothing that was not reviewed (issue: "an edited plan applies what nobody
reviewed"): the file is signed with a key from the state, and apply writes only what the files produce."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.backends import open_backend
from controller.cli import run
from controller.config import load_environment
from controller.plan import plan_hash, sign_plan
from controller.plan.planfile import decode_plan


@pytest.fixture
def planned(state_repo: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert run(["init", "--env", "dev"]) == 0
    assert run(["plan", "--env", "dev", "--out", "reviewed.plan"]) == 0
    capsys.readouterr()
    return state_repo / "reviewed.plan"


def _safety_off(data: dict) -> None:  # type: ignore[type-arg]
    """What the attack did: switch the guard off in the plan's `after` while git still says 500."""
    [mapping] = [c for c in data["plan"]["changes"] if c["address"] == "Mapping.entra-users"]
    mapping["after"]["spec"]["safety"]["maxDeletes"] = 99999999
    mapping["after"]["spec"]["safety"]["maxDeletePercent"] = 100


def _state(root: Path) -> tuple[int, dict]:  # type: ignore[type-arg]
    backend = open_backend(root, load_environment(root, "dev").resources.environment)
    try:
        state = backend.read_applied()
        return state.serial, state.resources
    finally:
        backend.close()


def test_an_edited_plan_with_a_recomputed_hash_is_refused_as_tampered(
        planned: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(planned.read_text())
    _safety_off(data)
    data["plan_hash"] = plan_hash(decode_plan(data["plan"]))  # anyone can recompute a plain SHA-256
    planned.write_text(json.dumps(data))
    assert run(["apply", "--env", "dev", str(planned)]) == 1
    err = capsys.readouterr().err
    assert "was changed after it was saved" in err and "nothing was applied" in err
    assert _state(planned.parent) == (0, {})


def test_even_a_validly_signed_plan_must_show_what_the_files_produce(
        planned: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Someone holding the state's key still cannot apply an `after` the files do not produce."""
    root = planned.parent
    data = json.loads(planned.read_text())
    _safety_off(data)
    backend = open_backend(root, load_environment(root, "dev").resources.environment)
    key = backend.fingerprint_key
    backend.close()
    forged = decode_plan(data["plan"])
    data["plan_hash"], data["signature"] = plan_hash(forged), sign_plan(forged, key)
    planned.write_text(json.dumps(data))
    assert run(["apply", "--env", "dev", str(planned)]) == 1
    assert "does not show what the files of environments/dev produce now" in capsys.readouterr().err
    assert _state(root) == (0, {})


def test_the_reviewed_plan_applies_and_the_audit_says_what_changed(
        planned: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = planned.parent
    assert run(["apply", "--env", "dev", str(planned)]) == 0
    serial, resources = _state(root)
    assert serial == 1 and resources["Mapping.entra-users"]["spec"]["safety"]["maxDeletes"] == 500
    backend = open_backend(root, load_environment(root, "dev").resources.environment)
    try:
        [entry] = backend.audit_log()
    finally:
        backend.close()
    assert entry.action == "apply" and entry.summary.startswith("Plan: 5 to add")
    assert {"address": "Mapping.entra-users", "action": "create"} in entry.details["changes"]
    assert entry.details["savedPlan"] == str(planned)
