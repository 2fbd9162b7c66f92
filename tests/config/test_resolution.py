"""Variables and secrets: typed substitution, null removal, escapes, and secrets that never leak.

Each test starts from a copy of a shipped environment, so the resolution is exercised on the same
files users edit, not on one-field dictionaries.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.config import ResourceSet, load_environment, secret_fingerprint, validate_environment
from controller.errors import ConfigError

SECRET_VALUE = "Xy8Q~s3cr3t-Value.from_the_portal"
KEY = b"fingerprint-key-of-this-environment"


def _variables(env_dir: Path, text: str) -> None:
    """Append variables to spec.variables of the copy's environment.yaml."""
    path = env_dir / "environment.yaml"
    old = path.read_text(encoding="utf-8")
    assert old.count("  variables:\n") == 1
    path.write_text(old.replace("  variables:\n", "  variables:\n" + text), encoding="utf-8")


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


# --- variables ---------------------------------------------------------------------------------------


def test_whole_value_reference_keeps_the_yaml_type(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("dev")
    _variables(env_dir, (
        "    page_size: 500\n"
        "    timeout: 12.5\n"
        "    schedule_on: false\n"
        "    owners: [app-owner, iam-team]\n"
        "    safety: {maxDeletes: 10, maxDeletePercent: 2.5, allowEmptySource: false}\n"
    ))
    _replace(env_dir / "connector.yaml", "  pageSize: 999",
             "  pageSize: ${var.page_size}\n  timeoutSeconds: ${var.timeout}")
    _replace(env_dir / "schedule.yaml", "enabled: true", "enabled: ${var.schedule_on}")
    _replace(env_dir / "application.yaml", "owners: [app-owner]", "owners: ${var.owners}")
    _replace(env_dir / "mapping.yaml", "  safety: {maxDeletes: 500, maxDeletePercent: 5, allowEmptySource: false}",
             "  safety: ${var.safety}")

    resources = load_environment(env_dir.parents[1], "dev").resources

    connector = resources.connectors["entra"].spec
    assert connector.pageSize == 500 and type(connector.pageSize) is int
    assert connector.timeoutSeconds == 12.5
    assert resources.schedules["entra-incremental"].spec.enabled is False
    assert resources.applications["microsoft-entra-id"].spec.owners == ["app-owner", "iam-team"]
    safety = resources.mappings["entra-users"].spec.safety
    assert (safety.maxDeletes, safety.maxDeletePercent, safety.allowEmptySource) == (10, 2.5, False)


def test_string_variables_fill_string_fields(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("dev")
    resources = load_environment(env_dir.parents[1], "dev").resources
    connector = resources.connectors["entra"].spec
    assert connector.tenantId == "f7ff6108-c26f-48dd-ae9e-9743eefbd11f"
    assert connector.clientId == "0a1b2c3d-1111-4222-8333-444455556666"
    assert connector.authorityHost == "https://login.microsoftonline.com"
    assert resources.mappings["entra-users"].spec.sourceFilter == 'mail eq "scarter@example.com"'


def test_null_variable_removes_an_optional_field(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("dev")  # dev sets entra_ca: null, so connector.yaml's caBundle goes away
    report = validate_environment(env_dir.parents[1], "dev")
    assert report.ok, [d.format() for d in report.errors]
    spec = report.resources.connectors["entra"].spec
    assert spec.caBundle is None
    assert "caBundle" not in spec.model_fields_set  # removed, not set to null
    assert not [d for d in report.diagnostics if d.pointer == "/spec/caBundle"]


def test_null_variable_removes_the_source_filter_in_prod(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("prod")
    mapping = load_environment(env_dir.parents[1], "prod").resources.mappings["entra-users"].spec
    assert mapping.sourceFilter is None


def test_variable_with_a_value_sets_the_optional_field(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("demo")
    spec = load_environment(env_dir.parents[1], "demo").resources.connectors["entra"].spec
    assert spec.caBundle == ".emulator/ca.pem"
    assert spec.authorityHost == spec.graphUrl == "https://127.0.0.1:47443"


def test_dollar_dollar_brace_is_a_literal(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("dev")
    _replace(env_dir / "application.yaml", "displayName: Microsoft Entra ID",
             "displayName: Microsoft Entra ID ($${var.not_a_reference})")
    _replace(env_dir / "application.yaml", "  name: microsoft-entra-id\n",
             "  name: microsoft-entra-id\n  description: Templates write $${secret.x} for secrets\n")
    app = load_environment(env_dir.parents[1], "dev").resources.applications["microsoft-entra-id"]
    assert app.spec.displayName == "Microsoft Entra ID (${var.not_a_reference})"
    assert app.metadata.description == "Templates write ${secret.x} for secrets"


def test_embedded_references_are_stringified(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("dev")
    _variables(env_dir, "    region: emea\n    wave: 3\n    pilot: true\n    nothing: null\n")
    _replace(env_dir / "application.yaml", "displayName: Microsoft Entra ID",
             'displayName: "Entra ${var.region} wave ${var.wave} pilot=${var.pilot}${var.nothing}"')
    app = load_environment(env_dir.parents[1], "dev").resources.applications["microsoft-entra-id"]
    assert app.spec.displayName == "Entra emea wave 3 pilot=true"


def test_a_null_variable_inside_a_list_stays_null_and_is_reported(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("dev")
    _variables(env_dir, "    second_owner: null\n")
    _replace(env_dir / "application.yaml", "owners: [app-owner]", "owners: [app-owner, '${var.second_owner}']")
    report = validate_environment(env_dir.parents[1], "dev")
    assert [(d.pos.line, d.pointer, d.message) for d in report.errors] == [
        (11, "/spec/owners/1", "expected a string, got null (from variable 'second_owner')"),
    ]


# --- secrets -----------------------------------------------------------------------------------------


@pytest.fixture
def dev(make_env: Callable[..., Path]) -> ResourceSet:
    env_dir = make_env("dev")
    return load_environment(env_dir.parents[1], "dev").resources


def test_a_secret_stays_a_reference_in_the_models(dev: ResourceSet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", SECRET_VALUE)
    assert dev.connectors["entra"].spec.clientSecret == "${secret.entra_client_secret}"
    assert SECRET_VALUE not in repr(dev)


def test_canonical_form_fingerprints_the_secret(dev: ResourceSet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", SECRET_VALUE)
    canonical = dev.canonical(KEY)
    assert list(canonical) == ["Environment.dev", "Connector.entra", "Application.microsoft-entra-id",
                               "Mapping.entra-users", "Schedule.entra-incremental"]
    assert canonical["Connector.entra"]["spec"]["clientSecret"] == {
        "sensitive": True,
        "secret": "entra_client_secret",
        "fingerprint": secret_fingerprint(KEY, SECRET_VALUE),
    }
    text = json.dumps(canonical)
    assert SECRET_VALUE not in text
    assert "${secret." not in text
    # defaults are spelled out: desired state does not depend on what the file left out
    assert canonical["Connector.entra"]["spec"]["timeoutSeconds"] == 60
    assert canonical["Mapping.entra-users"]["spec"]["targetScope"] == "linked"
    for address, doc in canonical.items():
        assert address == f"{doc['kind']}.{doc['name']}"
        assert doc["apiVersion"] == "idmctl/v1"


def test_fingerprint_changes_with_the_secret_value(dev: ResourceSet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", SECRET_VALUE)
    first = dev.canonical(KEY)["Connector.entra"]["spec"]["clientSecret"]["fingerprint"]
    assert dev.canonical(KEY)["Connector.entra"]["spec"]["clientSecret"]["fingerprint"] == first  # stable
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", SECRET_VALUE + "-rotated")
    second = dev.canonical(KEY)["Connector.entra"]["spec"]["clientSecret"]["fingerprint"]
    assert first.startswith("hmac-sha256:") and second.startswith("hmac-sha256:")
    assert first != second
    other_key = dev.canonical(b"another environment's key")["Connector.entra"]["spec"]["clientSecret"]
    assert other_key["fingerprint"] != second  # keyed: equal secrets do not look equal across states


def test_fingerprint_is_none_when_the_secret_is_not_available(
    dev: ResourceSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pull-request validation runs without production secrets: (sensitive, not checked)."""
    monkeypatch.delenv("ENTRA_CLIENT_SECRET", raising=False)
    assert dev.secret_available("entra_client_secret") is False
    ref = dev.canonical(KEY)["Connector.entra"]["spec"]["clientSecret"]
    assert ref == {"sensitive": True, "secret": "entra_client_secret", "fingerprint": None}
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", SECRET_VALUE)
    assert dev.canonical(None)["Connector.entra"]["spec"]["clientSecret"]["fingerprint"] is None


def test_validation_does_not_need_the_secret(make_env: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENTRA_CLIENT_SECRET", raising=False)
    env_dir = make_env("prod")
    assert validate_environment(env_dir.parents[1], "prod").ok


@pytest.mark.parametrize("env", ["dev", "prod", "demo"])
def test_from_canonical_round_trips(make_env: Callable[..., Path], env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", SECRET_VALUE)
    root = make_env(env).parents[1]
    original = load_environment(root, env).resources
    canonical = original.canonical(KEY)
    stored = json.loads(json.dumps(canonical))  # as applied state holds it
    rebuilt = ResourceSet.from_canonical(stored, root=root)
    assert rebuilt.environment == original.environment
    assert rebuilt.connectors == original.connectors
    assert rebuilt.applications == original.applications
    assert rebuilt.mappings == original.mappings
    assert rebuilt.schedules == original.schedules
    assert rebuilt.canonical(KEY) == canonical


def test_secret_reads_from_the_environment_variable(dev: ResourceSet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", SECRET_VALUE)
    assert dev.secret("entra_client_secret") == SECRET_VALUE
    assert dev.secret("${secret.entra_client_secret}") == SECRET_VALUE
    assert dev.secret(dev.connectors["entra"].spec.clientSecret) == SECRET_VALUE
    assert dev.secret_available("entra_client_secret")


def test_secret_reads_from_a_file(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("demo")
    root = env_dir.parents[1]
    demo = load_environment(root, "demo").resources
    assert not demo.secret_available("entra_client_secret")
    secret_file = root / ".emulator" / "client_secret"
    secret_file.parent.mkdir()
    secret_file.write_text(SECRET_VALUE + "\n", encoding="utf-8")  # trailing newline, as editors write it
    assert demo.secret_available("entra_client_secret")
    assert demo.secret("entra_client_secret") == SECRET_VALUE


def test_a_missing_env_secret_names_the_variable(dev: ResourceSet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENTRA_CLIENT_SECRET", raising=False)
    with pytest.raises(ConfigError) as info:
        dev.secret("entra_client_secret")
    text = str(info.value)
    assert "secret 'entra_client_secret' is not available" in text
    assert "environment variable ENTRA_CLIENT_SECRET is not set" in text
    assert "Export ENTRA_CLIENT_SECRET=" in text


def test_an_empty_env_secret_counts_as_missing(dev: ResourceSet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", "")
    assert not dev.secret_available("entra_client_secret")
    with pytest.raises(ConfigError, match="ENTRA_CLIENT_SECRET"):
        dev.secret("entra_client_secret")


def test_a_missing_file_secret_names_the_file(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("demo")
    demo = load_environment(env_dir.parents[1], "demo").resources
    with pytest.raises(ConfigError) as info:
        demo.secret("entra_client_secret")
    assert "file .emulator/client_secret" in str(info.value)


def test_an_undeclared_secret_is_a_clear_error(dev: ResourceSet) -> None:
    with pytest.raises(ConfigError, match="secret 'graph_key' is not declared in environment 'dev'"):
        dev.secret("graph_key")
