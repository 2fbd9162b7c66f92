"""`idmctl emulator users|faults|delta|apps|info`: drive a running emulator through its admin API, token sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controller.cli import run
from controller.emulator import Emulator


@pytest.fixture
def running(emulator: Emulator) -> Emulator:
    """``emulator`` as `idmctl emulator` leaves it for other commands: an emulator.json in its state dir."""
    (emulator.state_dir / "emulator.json").write_text(json.dumps({"base_url": emulator.base_url}))
    return emulator


def idm(capsys: pytest.CaptureFixture[str], emu: Emulator, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(["emulator", *args, "--state-dir", str(emu.state_dir)])
    out, err = capsys.readouterr()
    return code, out, err


def idm_json(capsys: pytest.CaptureFixture[str], emu: Emulator, *args: str) -> Any:
    code, out, err = idm(capsys, emu, *args, "--json")
    assert code == 0, out + err
    return json.loads(out)


def test_add_rename_change_delete_and_restore_a_user(running: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    upn = f"alex.new@{running.domain}"
    code, out, err = idm(capsys, running, "users", "add", upn, "--given-name", "Alex", "--surname", "New",
                         "--mail", "alex.new@example.com", "--set", "jobTitle=Engineer")
    assert code == 0, err
    assert f"Created {upn}" in out and "displayName: Alex New" in out
    user = running.get_user(upn)
    assert user is not None and user["jobTitle"] == "Engineer" and user["accountEnabled"] is True

    renamed = f"alex.renamed@{running.domain}"
    assert idm_json(capsys, running, "users", "rename", upn, renamed)["userPrincipalName"] == renamed
    assert idm_json(capsys, running, "users", "set", renamed, "--set", "jobTitle=", "--set",
                    "accountEnabled=false")["accountEnabled"] is False
    assert "jobTitle" not in (running.get_user(user["id"]) or {})  # cleared

    code, out, _ = idm(capsys, running, "users", "delete", user["id"])
    assert code == 0 and "soft" in out
    assert idm_json(capsys, running, "users", "restore", user["id"])["id"] == user["id"]
    assert idm(capsys, running, "users", "delete", user["id"], "--permanent")[0] == 0
    code, _, err = idm(capsys, running, "users", "get", user["id"])
    assert code == 1 and "404" in err and "users get" in err


def test_faults_delta_expiry_and_apps(running: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    fault = idm_json(capsys, running, "faults", "add", "429,retry-after=2,count=3,path=/v1.0/users")
    assert fault["status"] == 429 and fault["count"] == 3
    assert idm(capsys, running, "faults", "add", "expired-secret")[0] == 0
    assert [f["kind"] for f in idm_json(capsys, running, "faults", "list")] == ["status", "expired-secret"]
    assert idm(capsys, running, "faults", "clear")[0] == 0
    assert running.faults.list() == []
    code, _, err = idm(capsys, running, "faults", "add", "teapot")
    assert code == 1 and "not a status or a fault kind" in err

    assert idm(capsys, running, "delta", "expire", "--status", "410")[0] == 0
    app = idm_json(capsys, running, "apps", "add", "--role", "User.ReadWrite.All")
    assert app["client_id"] and app["secret"]


def test_info_says_where_the_admin_token_is(running: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = idm(capsys, running, "info")
    assert code == 0 and f"adminTokenFile: {running.admin_token_path}" in out
    assert running.admin_token not in out and running.client_secret not in out


def test_without_a_running_emulator_it_says_how_to_start_one(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["emulator", "users", "get", "x", "--state-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "no emulator is running" in err and f"idmctl emulator --state-dir {tmp_path}" in err


def test_a_wrong_admin_token_is_refused_with_what_to_do(running: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    running.admin_token_path.write_text("not-the-token")
    code, _, err = idm(capsys, running, "users", "get", "x")
    assert code == 1 and "403" in err and "--state-dir" in err
