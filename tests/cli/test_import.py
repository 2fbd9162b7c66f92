"""`idmctl import`: a tenant's objects written as resource files that validate, never over a file
without --force, and never a secret value anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller import commands
from controller.cli import run
from controller.commands import _import
from controller.config import load_environment, resource_files
from controller.errors import UsageError
from controller.platforms.aic import render_resources
from tests.platforms.aic import exports

AIC_PLATFORM = ("platform: {type: aic, tenantUrl: 'https://openam-acme.forgeblocks.com', realm: alpha, "
                "serviceAccountId: 6d8e4b6b-8182-4bd3-a828-a4a4f92daecb, serviceAccountKey: '${secret.aic_sa_key}'}\n"
                "  secrets: {aic_sa_key: {fromEnv: AIC_SA_KEY}}")
ENVIRONMENT = f"""\
# yaml-language-server: $schema=../../schemas/environment.schema.json
# acme: the tenant to adopt (a comment import keeps).
apiVersion: idmctl/v1
kind: Environment
metadata:
  name: acme
spec:
  state: {{backend: sqlite, path: .idmctl/acme.db}}
  {AIC_PLATFORM}
  variables: {{}}
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / "environments" / "acme").mkdir(parents=True)
    (root / "environments" / "acme" / "environment.yaml").write_text(ENVIRONMENT)
    (root / "schemas").mkdir()
    monkeypatch.delenv("IDMCTL_ROOT", raising=False)
    monkeypatch.chdir(root)
    return root


def _all_text(root: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(root.rglob("*.yaml")))


def test_import_writes_resource_files_that_load(repo: Path) -> None:
    tenant = exports.FakeTenant.of_exports()
    report = commands.import_environment(repo, "acme", tenant=tenant)
    folder = repo / "environments" / "acme"
    assert [p.name for p in report.written] == ["connector.yaml", "mapping.yaml", "application.yaml",
                                                "schedule.yaml"]
    assert not tenant.closed  # a tenant passed in is the caller's to close
    assert report.declared == ("azure_client_secret",) and report.environment_file == folder / "environment.yaml"
    assert not [d for d in report.diagnostics if d.severity == "error"]
    loaded = load_environment(repo, "acme")
    assert set(loaded.resources.connectors) == {"azure"} and set(loaded.resources.mappings) == {"azure-users"}
    env_text = (folder / "environment.yaml").read_text()
    assert "# acme: the tenant to adopt (a comment import keeps)." in env_text
    assert "azure_client_secret: {fromEnv: AZURE_CLIENT_SECRET}" in env_text
    connector = (folder / "connector.yaml").read_text()
    assert connector.startswith("# yaml-language-server: $schema=../../schemas/connector.schema.json\n"
                                "# Imported by `idmctl import` from provisioner.openicf/Azure on "
                                "https://openam-acme.forgeblocks.com.\n")
    assert "clientSecret: ${secret.azure_client_secret}" in connector and "$crypto" in connector  # in a note
    mapping = (folder / "mapping.yaml").read_text()
    assert "  - {source: givenName, target: givenName}" in mapping and "/policies/11/action: ONBOARD" in mapping
    # The files render to the tenant's objects wherever there is no note.
    rendered = {o.id: o.body for o in render_resources(loaded.resources).objects}
    assert rendered["mapping/systemAzureUser_managedAlpha_user"]["sourceQuery"] == exports.MAPPING["sourceQuery"]
    assert rendered[f"managed/alpha_application/{exports.APP_ID}"]["_id"] == exports.APP_ID
    assert exports.CRYPTO_DATA not in _all_text(repo)


def test_import_refuses_to_overwrite_without_force(repo: Path) -> None:
    commands.import_environment(repo, "acme", tenant=exports.FakeTenant.of_exports())
    folder = repo / "environments" / "acme"
    (folder / "mapping.yaml").write_text((folder / "mapping.yaml").read_text() + "# my edit\n")
    with pytest.raises(UsageError, match=r"environments/acme/connector.yaml, .*mapping.yaml.* already exist"):
        commands.import_environment(repo, "acme", tenant=exports.FakeTenant.of_exports())
    assert (folder / "mapping.yaml").read_text().endswith("# my edit\n")  # nothing was written
    report = commands.import_environment(repo, "acme", force=True, tenant=exports.FakeTenant.of_exports())
    assert not (folder / "mapping.yaml").read_text().endswith("# my edit\n")
    assert report.declared == ()  # already declared by the first import
    assert (folder / "environment.yaml").read_text().count("azure_client_secret") == 1


def test_import_refuses_a_resource_another_file_declares(repo: Path) -> None:
    commands.import_environment(repo, "acme", tenant=exports.FakeTenant.of_exports())
    folder = repo / "environments" / "acme"
    (folder / "connector.yaml").rename(folder / "entra-connector.yaml")
    with pytest.raises(UsageError, match=r"entra-connector.yaml already declares Connector 'azure'"):
        commands.import_environment(repo, "acme", force=True, tenant=exports.FakeTenant.of_exports())


def test_import_with_out_writes_elsewhere_and_leaves_the_environment(repo: Path, tmp_path: Path) -> None:
    before = (repo / "environments" / "acme" / "environment.yaml").read_text()
    report = commands.import_environment(repo, "acme", out=tmp_path / "review", tenant=exports.FakeTenant.of_exports())
    assert {p.name for p in (tmp_path / "review").iterdir()} == {"connector.yaml", "mapping.yaml",
                                                                  "application.yaml", "schedule.yaml"}
    assert report.declared == () and report.secrets == ("azure_client_secret",)
    assert (repo / "environments" / "acme" / "environment.yaml").read_text() == before
    assert resource_files(repo / "environments" / "acme") == [repo / "environments" / "acme" / "environment.yaml"]


def test_import_on_the_embedded_platform_says_what_to_set(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env_file = repo / "environments" / "acme" / "environment.yaml"
    env_file.write_text(ENVIRONMENT.replace(AIC_PLATFORM, "platform: {type: embedded}"))
    assert run(["import", "--env", "acme"]) == 1
    assert "import reads an AIC tenant" in capsys.readouterr().err


def test_the_cli_prints_files_and_notes_and_json(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    opened: list[exports.FakeTenant] = []

    def open_tenant(root: Path, resources: object) -> exports.FakeTenant:
        opened.append(exports.FakeTenant.of_exports())
        return opened[-1]

    monkeypatch.setattr(_import, "open_tenant", open_tenant)
    monkeypatch.setenv("AIC_SA_KEY", "not-a-real-key")
    assert run(["import", "--env", "acme"]) == 0
    captured = capsys.readouterr()
    assert "Imported 4 resources of https://openam-acme.forgeblocks.com (realm alpha)" in captured.out
    assert "environments/acme/mapping.yaml  (Mapping.azure-users <- mapping/systemAzureUser_managedAlpha_user)" \
        in captured.out
    assert "SOURCE_TARGET_CONFLICT" in captured.out and "AZURE_CLIENT_SECRET" in captured.err
    assert opened[0].closed
    assert run(["import", "--env", "acme"]) == 1
    assert "already exist" in capsys.readouterr().err
    assert run(["import", "--env", "acme", "--force", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["address"] for r in data["resources"]] == ["Connector.azure", "Mapping.azure-users",
                                                         "Application.azure", "Schedule.azure-users-full"]
    notes = {(n["nativeId"], n["pointer"]) for n in data["notes"]}
    assert ("provisioner.openicf/Azure", "/configurationProperties/clientSecret") in notes
    assert ("schedule/azureLiveSync", "/schedule") in notes
    assert exports.CRYPTO_DATA not in json.dumps(data) + _all_text(repo)


def test_a_literal_dollar_brace_stays_literal(repo: Path) -> None:
    tenant = exports.FakeTenant.of_exports()
    mapping = tenant.config["mapping/systemAzureUser_managedAlpha_user"]
    mapping["properties"].append({"target": "description", "default": "${not.a.variable}"})
    commands.import_environment(repo, "acme", tenant=tenant)
    assert "default: '$${not.a.variable}'" in (repo / "environments" / "acme" / "mapping.yaml").read_text()
    props = load_environment(repo, "acme").resources.mappings["azure-users"].spec.properties
    assert props[-1].default == "${not.a.variable}"


def test_several_resources_of_a_kind_get_a_file_each(repo: Path) -> None:
    tenant = exports.FakeTenant.of_exports()
    second = json.loads(json.dumps(exports.CONNECTOR))
    second["_id"] = "provisioner.openicf/AzureGov"
    tenant.config[second["_id"]] = second
    report = commands.import_environment(repo, "acme", tenant=tenant)
    assert [p.name for p in report.written] == ["connector-azure.yaml", "connector-azure-gov.yaml", "mapping.yaml",
                                                "application.yaml", "schedule.yaml"]
    assert report.declared == ("azure_client_secret", "azure_gov_client_secret")
    loaded = load_environment(repo, "acme").resources
    assert loaded.connectors["azure-gov"].spec.aic is None  # AzureGov is what idmctl derives from azure-gov


def test_a_plaintext_secret_on_the_tenant_is_written_nowhere(repo: Path, state_secret: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    tenant = exports.FakeTenant.of_exports()
    props = tenant.config["provisioner.openicf/Azure"]["configurationProperties"]
    props["clientSecret"] = state_secret  # a tenant that stored it in the clear (IDM would have encrypted it)
    props["httpProxyPassword"] = state_secret
    report = commands.import_environment(repo, "acme", tenant=tenant)
    text = json.dumps([n.reason for n in report.notes]) + _all_text(repo)
    assert state_secret not in text
    assert "a plaintext value (not shown)" in text
    assert any(n.pointer == "/configurationProperties/httpProxyPassword" for n in report.notes)
