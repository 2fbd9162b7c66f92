"""`idmctl promote`: copy resource files between environments, check them, and show the target's plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli import run


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_check_passes_when_files_are_the_same(state_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["promote", "--from", "dev", "--to", "prod", "--check"]) == 0
    assert "are the same" in capsys.readouterr().out


def test_check_fails_when_prod_differs_and_changes_nothing(
        state_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(state_repo / "environments/dev/mapping.yaml", "maxDeletes: 500", "maxDeletes: 50")
    (state_repo / "environments/prod/extra.yaml").write_text((state_repo / "environments/prod/schedule.yaml")
                                                             .read_text().replace("entra-incremental", "nightly"))
    before = {p.name: p.read_bytes() for p in (state_repo / "environments/prod").iterdir()}
    assert run(["promote", "--from", "dev", "--to", "prod", "--check", "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["files"] == [{"path": "extra.yaml", "change": "delete"},
                             {"path": "mapping.yaml", "change": "update"}]
    assert {p.name: p.read_bytes() for p in (state_repo / "environments/prod").iterdir()} == before


def test_promote_copies_everything_but_environment_yaml_and_plans_prod(
        state_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dev, prod = state_repo / "environments/dev", state_repo / "environments/prod"
    run(["init", "--env", "prod"])
    assert run(["apply", "--env", "prod", "--auto-approve"]) == 0
    edit(dev / "mapping.yaml", "maxDeletes: 500", "maxDeletes: 50")
    (dev / "schedule.yaml").rename(dev / "schedules.yaml")
    prod_env = (prod / "environment.yaml").read_bytes()
    capsys.readouterr()
    assert run(["promote", "--from", "dev", "--to", "prod"]) == 0
    out = capsys.readouterr().out
    assert "~ environments/prod/mapping.yaml (update)" in out
    assert "+ environments/prod/schedules.yaml (create)" in out
    assert "- environments/prod/schedule.yaml (delete)" in out
    assert "Plan for environment 'prod'" in out
    assert "      ~ /spec/safety/maxDeletes: 500 -> 50" in out
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in out
    assert (prod / "environment.yaml").read_bytes() == prod_env
    assert not (prod / "schedule.yaml").exists()
    assert run(["promote", "--from", "dev", "--to", "prod", "--check"]) == 0


def test_promote_works_both_ways_and_says_to_init_without_state(
        state_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prod = state_repo / "environments/prod"
    edit(prod / "application.yaml", "displayName: Microsoft Entra ID", "displayName: Entra ID (prod hotfix)")
    assert run(["promote", "--from", "prod", "--to", "dev"]) == 0
    captured = capsys.readouterr()
    assert "~ environments/dev/application.yaml (update)" in captured.out
    assert "run `idmctl init --env dev`" in captured.err
    assert "prod hotfix" in (state_repo / "environments/dev/application.yaml").read_text()
    assert run(["promote", "--from", "dev", "--to", "prod", "--check"]) == 0


def test_missing_variables_and_secrets_fail_before_copying(
        state_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dev, prod = state_repo / "environments/dev", state_repo / "environments/prod"
    edit(dev / "environment.yaml", "  secrets:\n",
         "    page_size: 500\n  secrets:\n    hr_token: {fromEnv: HR_TOKEN}\n")
    edit(dev / "connector.yaml", "pageSize: 999", "pageSize: ${var.page_size}")
    edit(dev / "connector.yaml", "clientSecret: ${secret.entra_client_secret}", "clientSecret: ${secret.hr_token}")
    before = {p.name: p.read_bytes() for p in prod.iterdir()}
    assert run(["promote", "--from", "dev", "--to", "prod"]) == 1
    err = capsys.readouterr().err
    assert "environments/dev/connector.yaml:" in err
    assert "variable 'page_size'" in err and "secret 'hr_token'" in err
    assert "environments/prod/environment.yaml" in err
    assert {p.name: p.read_bytes() for p in prod.iterdir()} == before
    assert run(["promote", "--from", "dev", "--to", "dev"]) == 1
