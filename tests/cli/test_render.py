"""`idmctl render`: one JSON file per native object, deterministic, and never a secret value."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from controller import commands
from controller.cli import run
from controller.config import _checks

REPO = Path(__file__).resolve().parents[2]

EXPECTED_FILES = {
    "esv/variables/esv-idmctl-entra-tenant-id.json", "esv/variables/esv-idmctl-entra-client-id.json",
    "esv/secrets/esv-idmctl-entra-client-secret.json", "provisioner.openicf/Entra.json",
    "mapping/systemEntraUser_managedAlpha_user.json", "schedule/entra-incremental.json"}


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_render_writes_one_file_per_object_deterministically(state_repo: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["render", "--env", "dev", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "Rendered 7 objects of environment 'dev' (realm alpha)" in out
    first = _files(tmp_path / "a")
    assert set(first) >= EXPECTED_FILES
    [app] = [f for f in first if f.startswith("managed/alpha_application/")]
    assert len(first) == len(EXPECTED_FILES) + 1
    for name, data in first.items():  # the id of each object is its file name
        body = json.loads(data)
        if not name.startswith(("esv/", "managed/")):
            assert body["_id"] == name.removesuffix(".json")
        assert data.endswith(b"\n")
    assert json.loads(first[app])["_id"] == Path(app).stem
    assert run(["render", "--env", "dev", "--out", str(tmp_path / "b"), "-q"]) == 0
    assert _files(tmp_path / "b") == first  # render twice: identical bytes
    assert run(["render", "--env", "dev", "--out", str(tmp_path / "a")]) == 0
    assert _files(tmp_path / "a") == first


def test_no_secret_value_is_rendered(state_repo: Path, state_secret: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    # dev reads the client secret from ENTRA_CLIENT_SECRET (state_repo exports a recognisable value) ...
    assert run(["render", "--env", "dev", "--out", str(tmp_path / "dev")]) == 0
    assert run(["render", "--env", "dev"]) == 0
    assert run(["render", "--env", "dev", "--json"]) == 0
    # ... and demo from a file.
    shutil.copytree(REPO / "environments" / "demo", state_repo / "environments" / "demo")
    (state_repo / ".emulator").mkdir()
    (state_repo / ".emulator" / "client_secret").write_text(state_secret + "\n")
    assert run(["render", "--env", "demo", "--out", str(tmp_path / "demo")]) == 0
    captured = capsys.readouterr()
    assert state_secret not in captured.out + captured.err
    files = _files(tmp_path / "dev") | {f"demo/{k}": v for k, v in _files(tmp_path / "demo").items()}
    assert files
    for name, data in files.items():
        assert state_secret.encode() not in data, name
    secret = json.loads(files["esv/secrets/esv-idmctl-entra-client-secret.json"])
    assert set(secret) == {"_id", "description", "encoding", "useInPlaceholders"}
    for name in ("esv/variables/esv-idmctl-entra-tenant-id.json", "esv/variables/esv-idmctl-entra-client-id.json"):
        assert set(json.loads(files[name])) == {"_id", "description", "expressionType"}
    assert b"&{esv.idmctl.entra.client.secret}" in files["provisioner.openicf/Entra.json"]


def test_render_prints_without_out_and_takes_a_realm(state_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["render", "--env", "prod", "--realm", "bravo"]) == 0
    out = capsys.readouterr().out
    assert "# provisioner.openicf/Entra.json" in out and "# managed/bravo_application/" in out
    assert run(["render", "--env", "prod", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["realm"] == "alpha" and data["environment"] == "prod"
    assert [o["kind"] for o in data["objects"]] == [  # the safe apply order
        "variable", "variable", "secret", "connector", "mapping", "application", "schedule"]


def test_shipped_environments_render(capsys: pytest.CaptureFixture[str]) -> None:
    for env in ("dev", "prod", "demo"):
        assert len(commands.render(REPO, env).objects) == 7


def test_an_aic_environment_uses_its_realm(state_repo: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    # Until the aic platform lands, validate refuses `type: aic`; render itself needs nothing from it.
    monkeypatch.setattr(_checks, "AVAILABLE_PLATFORMS", frozenset({"embedded", "aic"}))
    path = state_repo / "environments" / "dev" / "environment.yaml"
    path.write_text(path.read_text().replace(
        "platform: {type: embedded}",
        "platform: {type: aic, tenantUrl: 'https://openam-acme.forgeblocks.com', realm: bravo, "
        "serviceAccountId: 6d8e4b6b-8182-4bd3-a828-a4a4f92daecb, serviceAccountKey: '${secret.aic_sa_key}'}").replace(
        "  secrets:\n", "  secrets:\n    aic_sa_key: {fromEnv: AIC_SA_KEY}\n"))
    result = commands.render(state_repo, "dev")
    assert result.realm == "bravo"
    assert any(o.id.startswith("managed/bravo_application/") for o in result.objects)
    assert run(["render", "--env", "dev", "--realm", "alpha"]) == 1
    assert "realm 'bravo', not 'alpha'" in capsys.readouterr().err
