"""The commands operations teams expect, through the CLI: state show, audit list, env new, schedule
pause|resume, lists that page, destructive commands that ask first, and one set of conventions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from controller import commands
from controller.backends import open_backend
from controller.cli import run
from controller.config import load_environment


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def applied(state_repo: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    commands.init(state_repo, "dev")
    commands.apply(state_repo, "dev", approve=lambda plan: True)
    capsys.readouterr()
    return state_repo


def _identities(root: Path, n: int) -> list[str]:
    backend = open_backend(root, load_environment(root, "dev").resources.environment)
    try:
        store = backend.store()
        return [store.create({"userName": f"user{i:03d}@contoso.com", "givenName": f"Given{i}", "sn": "Person",
                              "mail": f"user{i:03d}@contoso.com"}).id for i in range(n)]
    finally:
        backend.close()


def test_state_show_and_audit_list(applied: Path, capsys: pytest.CaptureFixture[str], state_secret: str) -> None:
    code, out, _ = _cli(capsys, "state", "show", "--env", "dev")
    assert code == 0
    assert "serial 1" in out and "sqlite state at" in out and "platform embedded" in out
    assert "# Mapping.entra-users" in out and "last apply: Plan: 5 to add" in out and "lock: free" in out
    code, out, _ = _cli(capsys, "state", "show", "--env", "dev", "--json")
    report = json.loads(out)
    assert report["serial"] == 1 and set(report["resources"]) >= {"Connector.entra", "Mapping.entra-users"}
    assert report["resources"]["Connector.entra"]["spec"]["clientSecret"]["fingerprint"].startswith("hmac-sha256:")
    assert state_secret not in out
    code, out, _ = _cli(capsys, "audit", "list", "--env", "dev", "--json")
    [entry] = json.loads(out)
    assert entry["action"] == "apply" and {"address": "Schedule.entra-incremental", "action": "create"} in \
        entry["details"]["changes"]


def test_env_new_makes_an_environment_with_its_own_state(applied: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "env", "new", "qa", "--from", "dev")
    assert code == 0, err
    assert "Made environments/qa from dev" in out and "entra_client_secret: environment variable ENTRA_CLIENT_SECRET" \
        in out and "source_filter:" in out
    assert "idmctl init --env qa" in err
    text = (applied / "environments/qa/environment.yaml").read_text()
    assert "name: qa" in text and ".idmctl/qa.db" in text and "# the seed's test account only" in text
    assert sorted(p.name for p in (applied / "environments/qa").iterdir()) == sorted(
        p.name for p in (applied / "environments/dev").iterdir())
    assert _cli(capsys, "validate", "--env", "qa")[0] == 0
    assert _cli(capsys, "init", "--env", "qa")[0] == 0 and (applied / ".idmctl/qa.db").is_file()
    code, _, err = _cli(capsys, "env", "new", "qa", "--from", "dev")
    assert code == 1 and "environments/qa already exists" in err
    code, _, err = _cli(capsys, "env", "new", "Q_A", "--from", "dev")
    assert code == 1 and "not a valid environment name" in err


def test_schedule_pause_and_resume_show_the_reason(applied: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "schedule", "pause", "--env", "dev", "entra-incremental", "--reason", "change freeze")
    assert code == 0 and "Paused schedule 'entra-incremental'" in out
    code, out, _ = _cli(capsys, "schedule", "list", "--env", "dev", "--json")
    [row] = json.loads(out)["schedules"]
    assert row["paused"] and row["pausedReason"] == "change freeze"
    assert _cli(capsys, "schedule", "run", "--env", "dev", "--once")[0] == 0  # a paused schedule does not fire
    code, out, _ = _cli(capsys, "schedule", "resume", "--env", "dev", "entra-incremental")
    assert code == 0 and "Resumed" in out
    assert not json.loads(_cli(capsys, "schedule", "list", "--env", "dev", "--json")[1])["schedules"][0]["paused"]
    code, _, err = _cli(capsys, "schedule", "pause", "--env", "dev", "nope")
    assert code == 1 and "no applied schedule 'nope'" in err


def test_identity_lists_page_and_say_so(applied: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    ids = _identities(applied, 120)
    code, out, err = _cli(capsys, "identities", "search", "--env", "dev")
    assert code == 0 and "120 found" in out and out.count("@contoso.com") == 100  # 50 rows, userName + mail
    assert "showing 50 of 120 identities; `idmctl identities search --env dev --limit N, --offset 50`" in err
    code, out, _ = _cli(capsys, "identities", "search", "--env", "dev", "--all", "--json")
    assert len(json.loads(out)) == 120
    code, out, _ = _cli(capsys, "identities", "search", "--env", "dev", "--offset", "110", "--json")
    assert [o["userName"] for o in json.loads(out)] == [f"user{i:03d}@contoso.com" for i in range(110, 120)]
    code, out, err = _cli(capsys, "identities", "search", "--env", "dev", 'givenName sw "Given1"', "--limit", "5")
    assert "5+ found" in out and "showing 5 identities" in err  # a filtered total would cost a full scan
    code, out, _ = _cli(capsys, "identities", "search", "--env", "dev", "--limit", "1", "--columns", "mail,sn")
    assert "user000@contoso.com" in out and "Person" in out and "accountStatus" not in out
    full = ids[0]
    assert full in _cli(capsys, "identities", "search", "--env", "dev", "--limit", "1")[1]  # ids are never cut
    monkeypatch.setenv("COLUMNS", "60")  # a narrow terminal: keys fold onto more lines, never lose characters
    narrow = _cli(capsys, "identities", "search", "--env", "dev", "--limit", "1")[1]
    assert full in narrow  # the id keeps its width
    cells = [line.split("│")[2].strip() for line in narrow.splitlines() if line.count("│") > 3]
    assert "".join(cells).endswith("user000@contoso.com")  # the userName folds over lines, whole
    # ids made in one burst share their time prefix: take the shortest prefix only this id has
    unique = next(full[:k] for k in range(4, len(full) + 1) if sum(i.startswith(full[:k]) for i in ids) == 1)
    code, out, _ = _cli(capsys, "identities", "get", "--env", "dev", unique)  # a unique prefix
    assert code == 0 and f"managed/alpha_user/{full}" in out
    code, _, err = _cli(capsys, "identities", "get", "--env", "dev", full[:4])
    assert code == 1 and "ambiguous" in err


def test_destructive_commands_ask_first(applied: Path, capsys: pytest.CaptureFixture[str]) -> None:
    [oid] = _identities(applied, 1)
    code, out, _ = _cli(capsys, "identities", "delete", "--env", "dev", oid, "--dry-run")
    assert code == 0 and "Would delete" in out
    code, _, err = _cli(capsys, "identities", "delete", "--env", "dev", oid)  # no terminal here: refuse
    assert code == 1 and "needs confirmation" in err and "--yes" in err
    assert _cli(capsys, "identities", "get", "--env", "dev", oid)[0] == 0
    code, out, _ = _cli(capsys, "identities", "delete", "--env", "dev", oid, "--yes")
    assert code == 0 and "Deleted" in out
    code, out, _ = _cli(capsys, "runs", "prune", "--env", "dev", "--keep", "0", "--dry-run")
    assert code == 0 and "Would prune 0 run(s)" in out


def test_one_set_of_conventions(applied: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "identities", "get", "--env", "dev", "no-such-id", "--json")
    assert code == 1
    error = json.loads(out)["error"]
    assert error["type"] == "UsageError" and error["exitCode"] == 1 and "does not exist" in error["message"]
    code, out, err = _cli(capsys, "plan", "--env", "dev", "--json", "--format", "markdown")
    assert code == 1 and "two outputs" in err
    code, out, err = _cli(capsys, "validate", "--env", "dev", "-q")
    assert code == 0 and out == "" and err == ""
    schedule = applied / "environments/dev/schedule.yaml"
    schedule.write_text(schedule.read_text().replace("enabled: true", "enabled: false"))
    code, out, _ = _cli(capsys, "apply", "--env", "dev", "--auto-approve", "-q")
    assert code == 0 and "Apply complete!" in out and "~ update" not in out and "Plan:" not in out
    code, out, _ = _cli(capsys, "apply", "--help")
    assert "<bool>" not in out and "--lock-timeout" in out and "SECONDS" in out
    assert "<bool>" not in _cli(capsys, "reconcile", "--help")[1]


def test_status_names_match_the_run_states(applied: Path, capsys: pytest.CaptureFixture[str]) -> None:
    backend = open_backend(applied, load_environment(applied, "dev").resources.environment)
    try:
        from controller.config.models import RunMode, RunState

        store = backend.store()
        store.start_run("run-0001-aaaa", "entra-users", RunMode.FULL, started="2026-12-01T10:00:00.000Z")
        store.finish_run("run-0001-aaaa", state=RunState.SUCCESS, counts={}, processed=0, failures=0,
                         ended="2026-12-01T10:00:01.000Z")
    finally:
        backend.close()
    code, out, _ = _cli(capsys, "runs", "show", "--env", "dev", "run-0001", "--status", "failed")
    assert code == 0 and "No entries match." in out
    code, _, err = _cli(capsys, "runs", "show", "--env", "dev", "run-0001", "--status", "FAILUR")
    assert code == 1 and re.search(r"Did you mean FAILURE", err)


def test_identities_search_refuses_a_property_identities_do_not_have(applied: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _identities(applied, 1)
    code, out, err = _cli(capsys, "identities", "search", "--env", "dev", 'emial eq "user000@contoso.com"')
    assert code == 1 and out == ""
    assert "managed/alpha_user has no property 'emial'" in err and "Did you mean 'mail'?" in err
    code, out, _ = _cli(capsys, "identities", "search", "--env", "dev", 'givenname eq "Given0"', "--json")
    error = json.loads(out)["error"]
    assert code == 1 and error["type"] == "UsageError" and error["hint"].startswith("Did you mean 'givenName'?")
    code, out, _ = _cli(capsys, "identities", "search", "--env", "dev", 'givenName eq "given0"', "--json")
    assert code == 0 and len(json.loads(out)) == 1  # values compare case-insensitively; names are exact
