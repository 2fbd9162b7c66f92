"""`idmctl plan` and `apply` on the aic platform, through the CLI: exit codes, --no-restart, what is shown.

The tenant is the in-memory one of ``tests/platforms/aic/fake_tenant.py``, standing in for the HTTPS
client (``controller.platforms.aic._client``, exercised against the AIC emulator end to end).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli import run
from controller.config.models import AicPlatformSpec
from controller.platforms import _factory
from controller.platforms.aic import TenantApi
from tests.conftest import STATE_SECRET
from tests.platforms.aic.conftest import SA_KEY, SA_KEY_MARK, aic_repo
from tests.platforms.aic.fake_tenant import FakeTenant


@pytest.fixture
def tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeTenant:
    """environments/dev (aic) in a fresh repository as the working directory, its tenant in memory."""
    aic_repo(tmp_path, monkeypatch)
    fake = FakeTenant()

    def connect(spec: AicPlatformSpec, key: str, base_dir: Path) -> TenantApi:
        assert key == SA_KEY
        return fake

    monkeypatch.setattr(_factory, "_connect", connect)
    assert run(["init", "--env", "dev"]) == 0
    return fake


def test_plan_and_apply_with_no_restart_then_the_restart(tenant: FakeTenant,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    seen = []
    assert run(["plan", "--env", "dev", "--detailed-exitcode"]) == 2
    out = capsys.readouterr().out
    seen.append(out)
    assert "idmctl will make the following changes on the tenant, in this order:" in out
    assert "esv-idmctl-entra-client-secret will be created (Connector.entra, restart required, sensitive)" in out
    assert "Tenant: 7 to create, 0 to update, 0 to delete, then a restart." in out

    assert run(["apply", "--env", "dev", "--auto-approve", "--no-restart"]) == 0
    captured = capsys.readouterr()
    seen += [captured.out, captured.err]
    assert "Pending until the tenant restarts (--no-restart): esv-idmctl-entra-tenant-id" in captured.out
    assert "Connector Entra: skipped: 3 ESV(s) are pending a restart" in captured.out
    assert tenant.restarts == 0 and len(tenant.pending()) == 3

    assert run(["plan", "--env", "dev", "--detailed-exitcode", "--json"]) == 2  # the restart is still to do
    data = json.loads(capsys.readouterr().out)
    assert data["native"] == [] and len(data["pending_restart"]) == 3 and data["summary"]["tenant"]["restart"]

    assert run(["apply", "--env", "dev", "--auto-approve", "--json"]) == 0
    captured = capsys.readouterr()
    seen += [captured.out, captured.err]
    result = json.loads(captured.out)
    assert result["tenant"]["restarted"] and result["tenant"]["connectorTests"] == [
        {"connector": "Entra", "result": "Connected"}]
    assert tenant.pending() == []

    assert run(["plan", "--env", "dev", "--detailed-exitcode"]) == 0
    out = capsys.readouterr().out
    assert "No changes. Environment 'dev' and its tenant matches its configuration" in out
    assert run(["state", "show", "--env", "dev"]) == 0
    shown = capsys.readouterr().out
    assert "on the tenant, written by idmctl: 7 object(s)" in shown and "esv-idmctl-entra-client-secret" in shown
    for text in [*seen, out, shown]:
        assert STATE_SECRET not in text and SA_KEY_MARK not in text


def test_a_tenant_error_is_one_line_and_exit_1(tenant: FakeTenant, capsys: pytest.CaptureFixture[str]) -> None:
    tenant.config["schedule/entra-incremental"] = {"_id": "schedule/entra-incremental", "enabled": True}
    assert run(["plan", "--env", "dev", "--detailed-exitcode"]) == 1
    err = capsys.readouterr().err
    assert "schedule/entra-incremental already exists on https://openam-acme-dev.forgeblocks.com" in err
    assert "idmctl import --env dev" in err and "Traceback" not in err
