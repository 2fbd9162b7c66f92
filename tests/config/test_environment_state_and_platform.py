"""``spec.state`` and ``spec.platform``: the old ``target:`` form still loads (with the new form to paste),
and backends and platforms this version does not have are a clear validation error, not a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller import commands
from controller.cli import run
from controller.config import load_environment
from tests.conftest import EMBEDDED, copy_environment

REPO = Path(__file__).resolve().parents[2]


def _repo(tmp_path: Path, old: str | None = None, new: str | None = None, *, env: str = "dev") -> Path:
    copy_environment(env, tmp_path)
    path = tmp_path / "environments" / env / "environment.yaml"
    if old is not None and new is not None:
        text = path.read_text()
        assert text.count(old) == 1
        path.write_text(text.replace(old, new))
    return tmp_path


_LINES = (EMBEDDED / "dev" / "environment.yaml").read_text().splitlines(keepends=True)
STATE = next(line for line in _LINES if line.startswith("  state: "))
PLATFORM = next(line for line in _LINES if line.startswith("  platform: "))


def _validate(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, object]]]:
    code = run(["validate", "--env", "dev", "--root", str(root), "--json"])
    [report] = json.loads(capsys.readouterr().out)["environments"]
    return code, report["diagnostics"]


def test_the_old_target_form_loads_as_sqlite_and_embedded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _repo(tmp_path, STATE + PLATFORM, "  target: {type: local, path: .idmctl/legacy.db}\n")
    code, diagnostics = _validate(root, capsys)
    assert code == 0
    [warning] = [d for d in diagnostics if d["severity"] == "warning"]
    assert warning["pointer"] == "/spec/target" and warning["line"] == 8
    assert "state: {backend: sqlite, path: .idmctl/legacy.db}" in str(warning["hint"])
    assert "platform: {type: embedded}" in str(warning["hint"])
    spec = load_environment(root, "dev").resources.environment.spec
    assert (spec.state.backend, spec.state.path, spec.platform.type) == ("sqlite", ".idmctl/legacy.db", "embedded")
    # ...and it is that state that init creates and plan reads.
    assert commands.init(root, "dev").location == str(root / ".idmctl" / "legacy.db")
    assert commands.plan(root, "dev").plan.has_changes


def test_the_old_form_has_the_same_canonical_form_as_the_new(tmp_path: Path) -> None:
    new = load_environment(_repo(tmp_path / "new"), "dev").resources.canonical()
    old = load_environment(_repo(tmp_path / "old", STATE + PLATFORM, "  target: {type: local, path: .idmctl/dev.db}\n"),
                           "dev").resources.canonical()
    assert old == new  # upgrading the file plans no change


def test_old_and_new_forms_together_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _repo(tmp_path, PLATFORM, PLATFORM + "  target: {type: local}\n")
    code, diagnostics = _validate(root, capsys)
    assert code == 1
    assert any("old form" in str(d["message"]) and "only the new form" in str(d["message"]) for d in diagnostics)


AIC = ("  platform: {type: aic, tenantUrl: 'https://openam-acme.forgeblocks.com', realm: alpha, "
       "serviceAccountId: 6d8e4b6b-8182-4bd3-a828-a4a4f92daecb, serviceAccountKey: '${secret.aic_sa_key}'}\n")


def test_aic_is_available_and_its_key_secret_must_be_declared(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root = _repo(tmp_path, PLATFORM, AIC)
    code, diagnostics = _validate(root, capsys)
    assert code == 1
    errors = {d["pointer"]: d for d in diagnostics if d["severity"] == "error"}
    # The platform itself is fine now; the secret it names must be declared, an error at the field naming it.
    assert list(errors) == ["/spec/platform/serviceAccountKey"]
    assert "is not declared under spec.secrets" in str(errors["/spec/platform/serviceAccountKey"]["message"])
    assert errors["/spec/platform/serviceAccountKey"]["file"] == "environments/dev/environment.yaml"
    # No command gets past loading: init says the same, and writes nothing.
    assert run(["init", "--env", "dev", "--root", str(root)]) == 1
    assert "is not declared under spec.secrets" in capsys.readouterr().err
    assert not (root / ".idmctl").exists()
    path = root / "environments" / "dev" / "environment.yaml"
    path.write_text(path.read_text().replace("    entra_client_secret: {fromEnv: ENTRA_CLIENT_SECRET}\n",
                                             "    entra_client_secret: {fromEnv: ENTRA_CLIENT_SECRET}\n"
                                             "    aic_sa_key: {fromEnv: AIC_SA_KEY}\n"))
    monkeypatch.setenv("AIC_SA_KEY", "{}")
    code, diagnostics = _validate(root, capsys)
    assert code == 0 and not [d for d in diagnostics if d["severity"] == "error"]


def test_postgres_is_available_and_its_password_secret_must_be_declared(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _repo(tmp_path, STATE, "  state: {backend: postgres, dsn: host=db.internal dbname=idmctl user=idmctl, "
                                  "password: '${secret.pg_password}', schema: idmctl_dev}\n")
    code, diagnostics = _validate(root, capsys)
    assert code == 1
    errors = [d for d in diagnostics if d["severity"] == "error"]
    assert [d["pointer"] for d in errors] == ["/spec/state/password"]  # the backend itself is fine
    assert "is not declared under spec.secrets" in str(errors[0]["message"])


def test_every_field_the_next_backends_need_is_in_the_schema() -> None:
    schema = json.loads((REPO / "schemas" / "environment.schema.json").read_text())
    defs = schema["$defs"]
    assert {"dsn", "password", "schema", "poolSize"} <= set(defs["PostgresStateSpec"]["properties"])
    assert {"tenantUrl", "realm", "serviceAccountId", "serviceAccountKey", "scopes", "caBundle"} <= set(
        defs["AicPlatformSpec"]["properties"])
    assert defs["EnvironmentSpec"]["properties"]["target"].get("deprecated") is True


@pytest.mark.parametrize("path,severity", [("../../elsewhere/dev.db", "warning"), ("/var/lib/idmctl/dev.db", "info"),
                                           (".idmctl/sub/dev.db", None)])
def test_a_state_path_outside_the_repository_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     path: str, severity: str | None) -> None:
    root = _repo(tmp_path, STATE, f"  state: {{backend: sqlite, path: {path}}}\n")
    code, diagnostics = _validate(root, capsys)
    assert code == 0
    said = [d for d in diagnostics if d["pointer"] == "/spec/state/path"]
    assert [d["severity"] for d in said] == ([severity] if severity else [])
    if severity:
        assert "outside the repository" in str(said[0]["message"]) and said[0]["line"] == 8
