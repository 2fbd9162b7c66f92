"""`idmctl plan` through the real loader and state: symbols, paths, exit codes, formats, empty plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli import run


@pytest.fixture
def applied_repo(state_repo: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert run(["init", "--env", "dev"]) == 0
    assert run(["apply", "--env", "dev", "--auto-approve"]) == 0
    capsys.readouterr()
    return state_repo


def test_first_plan_lists_every_resource_as_create(state_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(["init", "--env", "dev"])
    capsys.readouterr()
    assert run(["plan", "--env", "dev", "--detailed-exitcode"]) == 2
    out = capsys.readouterr().out
    for address in ("Environment.dev", "Connector.entra", "Application.microsoft-entra-id",
                    "Mapping.entra-users", "Schedule.entra-incremental"):
        assert f"  + {address}\n" in out
    assert "/spec/clientSecret: (sensitive)" in out
    assert out.rstrip().endswith("Plan: 5 to add, 0 to change, 0 to destroy.")
    assert run(["plan", "--env", "dev"]) == 0  # without the flag, changes are not an exit code


def test_after_apply_there_are_no_changes(applied_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["plan", "--env", "dev", "--detailed-exitcode"]) == 0
    assert "No changes. Environment 'dev' matches its configuration (state serial 1)." in capsys.readouterr().out


def test_editing_a_mapping_shows_an_update_at_the_exact_path(
        applied_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mapping = applied_repo / "environments/dev/mapping.yaml"
    mapping.write_text(mapping.read_text().replace("{source: surname, target: sn}",
                                                   "{source: surname, target: sn, default: Unknown}"))
    assert run(["plan", "--env", "dev", "--detailed-exitcode"]) == 2
    out = capsys.readouterr().out
    assert "  ~ Mapping.entra-users\n" in out
    assert '      ~ /spec/properties/2/default: null -> "Unknown"\n' in out
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in out
    assert run(["plan", "--env", "dev", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    [change] = data["changes"]
    assert change["address"] == "Mapping.entra-users" and change["actions"] == ["update"]
    assert change["diffs"][0]["path"] == "/spec/properties/2/default"


def test_deleting_a_file_plans_a_destroy(applied_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (applied_repo / "environments/dev/schedule.yaml").unlink()
    assert run(["plan", "--env", "dev", "--detailed-exitcode"]) == 2
    out = capsys.readouterr().out
    assert "  - Schedule.entra-incremental\n" in out
    assert "Plan: 0 to add, 0 to change, 1 to destroy." in out


def test_planning_everything_away_needs_allow_empty(applied_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("application", "connector", "mapping", "schedule"):
        (applied_repo / f"environments/dev/{name}.yaml").unlink()
    assert run(["plan", "--env", "dev"]) == 1
    assert "--allow-empty" in capsys.readouterr().err
    assert run(["plan", "--env", "dev", "--allow-empty", "--detailed-exitcode"]) == 2
    assert "Plan: 0 to add, 0 to change, 4 to destroy." in capsys.readouterr().out


def test_plan_works_without_the_secret(applied_repo: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENTRA_CLIENT_SECRET")
    assert run(["plan", "--env", "dev", "--detailed-exitcode"]) == 0
    out = capsys.readouterr().out
    assert "(sensitive, not checked)" in out and "No changes." in out
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", "a rotated value")
    assert run(["plan", "--env", "dev", "--detailed-exitcode"]) == 2
    assert "      ~ /spec/clientSecret: (sensitive)\n" in capsys.readouterr().out


def test_markdown_format_and_saved_plan(applied_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (applied_repo / "environments/dev/schedule.yaml").unlink()
    assert run(["plan", "--env", "dev", "--format", "markdown", "--out", "plan.json"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### idmctl plan for `dev`") and "| `-` | `Schedule.entra-incremental` |" in out
    saved = json.loads((applied_repo / "plan.json").read_text())
    assert saved["state"]["serial"] == 1 and saved["environment"] == "dev"
    assert run(["plan", "--env", "dev", "--format", "yaml"]) == 1
