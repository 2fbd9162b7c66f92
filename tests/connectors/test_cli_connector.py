"""`idmctl connector test|preview` end to end: the demo environment's files pointed at an emulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.cli import run
from controller.emulator import Emulator

DemoRepo = Callable[..., Path]  # the `demo_repo` fixture of tests/conftest.py
LEAK = "Never-Print-Me~0123456789.abcdefXYZ"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_connector_test_says_connected(emulator_session: Emulator, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str], demo_repo: DemoRepo) -> None:
    root = demo_repo(tmp_path, emulator_session)
    code, out, err = _run(capsys, "connector", "test", "--env", "demo", "--root", str(root))
    assert code == 0, err
    assert "Connected" in out
    assert emulator_session.tenant_id in out
    assert "User.Read.All" in out and "least privilege" in out
    assert emulator_session.client_secret not in out + err

    code, out, err = _run(capsys, "connector", "test", "--env", "demo", "entra", "--root", str(root), "--json")
    data = json.loads(out)
    assert code == 0 and data["connected"] is True and data["configuration"] == "files"
    assert data["roles"]["granted"] == ["User.Read.All"]


def test_connector_test_wrong_secret_exits_1_with_the_reason(emulator_session: Emulator, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             demo_repo: DemoRepo) -> None:
    secret_file = tmp_path / "wrong_secret"
    secret_file.write_text(LEAK + "\n")
    root = demo_repo(tmp_path / "repo", emulator_session, secret_file=secret_file)
    code, out, err = _run(capsys, "connector", "test", "--env", "demo", "--root", str(root))
    assert code == 1
    assert "AADSTS7000215" in err and "not its Secret ID" in err
    assert "Traceback" not in out + err
    assert LEAK not in out + err

    code, out, err = _run(capsys, "connector", "test", "--env", "demo", "--root", str(root), "--json")
    assert code == 1 and LEAK not in out + err
    assert json.loads(out)["token"]["error"]["code"] == "AADSTS7000215"


def test_connector_test_without_roles_names_the_permission(emulator_session: Emulator, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str],
                                                           demo_repo: DemoRepo) -> None:
    client_id, secret = emulator_session.add_app([])
    secret_file = tmp_path / "secret"
    secret_file.write_text(secret)
    root = demo_repo(tmp_path / "repo", emulator_session, client_id=client_id, secret_file=secret_file)
    code, out, err = _run(capsys, "connector", "test", "--env", "demo", "--root", str(root))
    assert code == 1
    assert "403" in err and "Authorization_RequestDenied" in err
    assert "User.Read.All" in out and "admin consent" in out
    assert secret not in out + err


def test_unknown_connector_name_is_a_usage_error(emulator_session: Emulator, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str], demo_repo: DemoRepo) -> None:
    root = demo_repo(tmp_path, emulator_session)
    code, _, err = _run(capsys, "connector", "test", "--env", "demo", "nope", "--root", str(root))
    assert code == 1 and "no connector named 'nope'" in err and "entra" in err


def test_preview_shows_mapped_attributes(emulator_session: Emulator, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str], demo_repo: DemoRepo,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    root = demo_repo(tmp_path, emulator_session)
    code, out, err = _run(capsys, "connector", "preview", "--env", "demo", "entra", "--root", str(root),
                          "--limit", "40", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert [c["source"] for c in data["columns"]] == ["givenName", "mail", "surname", "userPrincipalName"]
    assert data["columns"][2]["targets"] == ["entra-users/sn"]
    assert data["mappings"] == ["entra-users"]
    assert any(r["mail"] == "scarter@example.com" for r in data["rows"])
    assert data["count"] == len(data["rows"]) <= 40
    assert all(set(r) == {"id", "givenName", "mail", "surname", "userPrincipalName"} for r in data["rows"])

    code, out, err = _run(capsys, "connector", "preview", "--env", "demo", "entra", "--root", str(root),
                          "--limit", "3")
    assert code == 0, err
    assert "userPrincipalName" in out and "→ entra-users/userName" in out
    assert "3 accounts shown (more exist" in err


def test_applied_configuration_wins_over_the_files(emulator_session: Emulator, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str], demo_repo: DemoRepo) -> None:
    from controller.backends import open_backend
    from controller.config import load_environment

    root = demo_repo(tmp_path, emulator_session)
    loaded = load_environment(root, "demo")
    target = open_backend(root, loaded.resources.environment, must_exist=False)
    target.init()
    try:
        state = target.read_applied()
        with target.lock("test", 5) as lease:
            target.write_applied(loaded.resources.canonical(target.fingerprint_key),
                                 expected_serial=state.serial, expected_lineage=state.lineage,
                                 lease=lease, summary="apply for the connector test")
    finally:
        target.close()
    # An edit that is not applied yet must not change what `connector test` uses.
    env_file = root / "environments" / "demo" / "environment.yaml"
    env_file.write_text(env_file.read_text().replace(emulator_session.client_id,
                                                     "99999999-9999-4999-8999-999999999999"))
    code, out, err = _run(capsys, "connector", "test", "--env", "demo", "--root", str(root), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["configuration"] == "applied" and data["clientId"] == emulator_session.client_id
