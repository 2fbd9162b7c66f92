"""On the aic platform a tenant fires its schedules itself: a full one whose policies delete is unguarded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controller.config import validate_environment
from controller.config._checks import _DEFAULT_DESTRUCTIVE
from controller.recon import DEFAULT_ACTIONS, DESTRUCTIVE
from tests.conftest import REPO


def _warnings(root: Path) -> list[str]:
    report = validate_environment(root, "demo-aic")
    return [d.message for d in report.diagnostics if d.severity == "warning" and "safety guard" in d.message]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "environments" / "demo-aic", tmp_path / "environments" / "demo-aic")
    return tmp_path


def _edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / "environments" / "demo-aic" / name
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))


def test_an_incremental_schedule_is_not_warned_about(repo: Path) -> None:
    assert _warnings(repo) == []


def test_a_full_schedule_whose_policies_delete_is_unguarded(repo: Path) -> None:
    _edit(repo, "schedule.yaml", "mode: incremental", "mode: full")
    [warning] = _warnings(repo)
    assert "schedule 'entra-incremental' runs a full reconciliation of 'entra-users'" in warning
    _edit(repo, "mapping.yaml", "LINK_ONLY: UNLINK", "LINK_ONLY: REPORT\n      UNQUALIFIED: IGNORE")
    assert _warnings(repo) == []  # nothing deletes or unlinks any more


def test_the_default_destructive_situations_are_the_engines() -> None:
    engine = {str(s) for s, a in DEFAULT_ACTIONS.items() if a in DESTRUCTIVE}
    assert engine == _DEFAULT_DESTRUCTIVE
