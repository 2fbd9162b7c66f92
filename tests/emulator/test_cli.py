"""`idmctl emulator` as a user runs it: a foreground process that writes emulator.json and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msal  # type: ignore[import-untyped]
import pytest
import requests

from controller.cli import run
from controller.emulator import ADMIN_TOKEN_HEADER

REPO = Path(__file__).resolve().parents[2]


def wait_for(path: Path, proc: subprocess.Popen[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists():
            try:
                info: dict[str, Any] = json.loads(path.read_text())
                return info
            except ValueError:
                pass  # written atomically, but be forgiving
        if proc.poll() is not None:
            raise AssertionError(f"emulator exited early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("emulator.json never appeared")


def test_foreground_emulator_prints_settings_never_the_secret(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller", "emulator", "--state-dir", str(state), "--generate", "50",
         "--port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        info = wait_for(state / "emulator.json", proc)
        assert info["pid"] == proc.pid and info["base_url"] == f"https://127.0.0.1:{info['port']}"
        secret = (state / "client_secret").read_text().strip()
        with requests.Session() as session:
            session.verify, session.trust_env = info["caBundle"], False
            app = msal.ConfidentialClientApplication(
                info["clientId"], client_credential=secret, authority=f"{info['authorityHost']}/{info['tenantId']}",
                instance_discovery=False, azure_region=False, http_client=session)
            assert "access_token" in app.acquire_token_for_client([f"{info['graphUrl']}/.default"])
            admin_token = Path(info["adminTokenFile"]).read_text().strip()
            count = session.get(f"{info['base_url']}/_emulator/info", timeout=30,
                                headers={ADMIN_TOKEN_HEADER: admin_token}).json()["users"]
            assert count == 33 + 50
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert secret not in out + err and admin_token not in out + err
    assert "tenantId: f7ff6108-c26f-48dd-ae9e-9743eefbd11f" in out
    assert f"export ENTRA_CLIENT_SECRET=\"$(cat {state / 'client_secret'})\"" in out
    assert not (state / "emulator.json").exists()


def test_bad_fault_spec_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(["emulator", "--state-dir", str(tmp_path), "--fault", "teapot"]) == 1
    assert "fault 'teapot'" in capsys.readouterr().err


def test_unreadable_users_file_is_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(["emulator", "--state-dir", str(tmp_path), "--users", str(tmp_path / "missing.json")]) == 1
    assert "cannot read users file" in capsys.readouterr().err
