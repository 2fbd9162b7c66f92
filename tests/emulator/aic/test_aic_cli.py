"""`idmctl emulator aic` as a user runs it: a foreground process that writes emulator.json and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import requests

from controller.emulator import ADMIN_TOKEN_HEADER
from controller.emulator.aic import DEFAULT_SERVICE_ACCOUNT_ID
from tests.emulator.test_cli import wait_for

REPO = Path(__file__).resolve().parents[3]


def test_foreground_aic_emulator_prints_settings_never_the_key(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller", "emulator", "aic", "--state-dir", str(state), "--port", "0",
         "--restart-seconds", "0", "--fault", "restart-hang"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        info = wait_for(state / "emulator.json", proc)
        assert info["pid"] == proc.pid and info["base_url"] == info["tenantUrl"] == f"https://127.0.0.1:{info['port']}"
        assert info["serviceAccountId"] == DEFAULT_SERVICE_ACCOUNT_ID
        for name in ("service-account.jwk", "service-account.pem", "admin_token", "tenant.json"):
            assert stat.S_IMODE(os.stat(state / name).st_mode) == 0o600, name
        with requests.Session() as session:
            session.verify, session.trust_env = info["caBundle"], False
            admin = {ADMIN_TOKEN_HEADER: (state / "admin_token").read_text().strip()}
            faults = session.get(f"{info['base_url']}/_emulator/faults", headers=admin, timeout=30).json()
            assert [f["kind"] for f in faults["value"]] == ["restart-hang"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "AIC emulator listening on https://127.0.0.1:" in out and "service-account.jwk" in out
    jwk = json.loads((state / "service-account.jwk").read_text())
    assert jwk["d"] not in out + err and jwk["p"] not in out + err
    assert not (state / "emulator.json").exists()


def test_emulator_help_lists_aic() -> None:
    from typer.testing import CliRunner

    from controller.cli import app

    result = CliRunner().invoke(app, ["emulator", "--help"])
    assert result.exit_code == 0 and "aic" in result.output
