"""`validate` with a state: what only the environment's state can tell, as warnings with positions."""

from __future__ import annotations

from pathlib import Path

from controller import commands
from controller.backends import open_backend
from controller.config import load_environment


def test_without_state_only_the_files_are_checked(state_repo: Path) -> None:
    report = commands.validate(state_repo, "dev")
    assert report.ok
    assert not [d for d in report.diagnostics if d.severity == "warning"]


def test_an_unapplied_schedule_and_an_unknown_owner_are_warned_about(state_repo: Path) -> None:
    commands.init(state_repo, "dev")
    report = commands.validate(state_repo, "dev")
    assert report.ok  # warnings never make a configuration invalid
    warnings = {d.format() for d in report.diagnostics if d.severity == "warning"}
    assert (
        "environments/dev/schedule.yaml:10:12: /spec/mapping: warning: schedule 'entra-incremental' runs mapping "
        "'entra-users', which is not applied in 'dev'. The scheduler runs applied configuration only: idmctl plan "
        "--env dev and apply." in warnings
    )
    assert any("owner 'app-owner' of application 'microsoft-entra-id' is no managed identity" in w
               and w.startswith("environments/dev/application.yaml:11:12: /spec/owners/0: warning:") for w in warnings)


def test_once_applied_and_the_owner_exists_there_is_nothing_to_say(state_repo: Path) -> None:
    commands.init(state_repo, "dev")
    commands.apply(state_repo, "dev", approve=lambda plan: True)
    target = open_backend(state_repo, load_environment(state_repo, "dev").resources.environment)
    try:
        target.store().create({"userName": "app-owner", "givenName": "App", "sn": "Owner",
                                  "mail": "app-owner@example.com"})
    finally:
        target.close()
    report = commands.validate(state_repo, "dev")
    assert not [d for d in report.diagnostics if d.severity == "warning"]
