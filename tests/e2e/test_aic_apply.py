"""Issue 11 as a user runs it: the seed's configuration applied to an AIC tenant through the CLI.

Both emulators are real HTTPS servers: the AIC one (service-account JWT, config, ESVs, restart, system
test) and the Entra + Graph one its connector calls. ``environments/demo-aic`` is copied and aimed at
them; nothing in the product is replaced. Covered: validate → init → plan → apply (with the restart) →
connector test says Connected → plan says no changes; a person's edit on the tenant shows as drift; a
stale plan is refused; a lost write is detected and retried; a name clash in ``sync`` is refused;
``import`` → ``plan`` shows no changes; and no secret reaches any output, plan file, rendering or state.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import AIC_ENV as ENV
from tests.e2e.conftest import TenantRepo, aim

CONNECTOR = "provisioner.openicf/Entra"
MAPPING = "mapping/systemEntraUser_managedAlpha_user"
SECRET_ESV = "esv-idmctl-entra-client-secret"


def _applied(repo: TenantRepo) -> None:
    assert repo.cli("init", "--env", ENV).code == 0
    repo.apply()


def test_validate_init_plan_apply_connected_and_then_no_changes(tenant: TenantRepo) -> None:
    result = tenant.cli("validate", "--env", ENV)
    assert result.code == 0, result.text
    assert tenant.cli("init", "--env", ENV).code == 0

    planned = tenant.cli("plan", "--env", ENV, "--detailed-exitcode")
    assert planned.code == 2, planned.text
    for native in (CONNECTOR, MAPPING, SECRET_ESV, "esv-idmctl-entra-tenant-id", "schedule/entra-incremental"):
        assert native in planned.out
    assert "restart required" in planned.out and "(sensitive)" in planned.out

    applied = tenant.apply()
    assert "Restarting" in applied.text and "Connected" in applied.text
    # What the tenant holds is what the files render: the ESV placeholders, never a secret value.
    connector = tenant.tenant_config(CONNECTOR)
    assert connector["configurationProperties"]["clientSecret"] == "&{esv.idmctl.entra.client.secret}"
    assert tenant.tenant_config(MAPPING)["source"] == "system/Entra/User"
    assert tenant.aic.esv.status == "ready"

    tested = tenant.cli("connector", "test", "--env", ENV)
    assert tested.code == 0 and "Connected" in tested.out, tested.text

    again = tenant.cli("plan", "--env", ENV, "--detailed-exitcode")
    assert again.code == 0, again.text
    assert "No changes" in again.out


def test_an_edit_on_the_tenant_is_drift_and_apply_restores_it(tenant: TenantRepo) -> None:
    _applied(tenant)
    mapping = tenant.tenant_config(MAPPING)
    mapping["properties"] = [p for p in mapping["properties"] if p["target"] != "givenName"]
    tenant.aic.put_config(MAPPING, mapping)  # a person in the console removes a property

    data = tenant.plan_json()
    assert [d["id"] for d in data["drift"]] == [MAPPING]
    assert [c["id"] for c in data["native"]] == [MAPPING]
    shown = tenant.cli("plan", "--env", ENV)
    assert "outside idmctl" in shown.out and MAPPING in shown.out

    tenant.apply()
    assert any(p["target"] == "givenName" for p in tenant.tenant_config(MAPPING)["properties"])
    assert tenant.cli("plan", "--env", ENV, "--detailed-exitcode").code == 0


def test_a_plan_saved_before_the_tenant_drifted_is_refused(tenant: TenantRepo, tmp_path: Path) -> None:
    _applied(tenant)
    schedule = tenant.tenant_config("schedule/entra-incremental")
    tenant.aic.put_config("schedule/entra-incremental", {**schedule, "enabled": False})
    plan_file = tmp_path / "restore.plan"
    assert tenant.cli("plan", "--env", ENV, "--out", str(plan_file)).code == 0
    tenant.aic.put_config("schedule/entra-incremental", {**schedule, "schedule": "0 0 * * * ?"})  # drifts again

    refused = tenant.cli("apply", "--env", ENV, str(plan_file))
    assert refused.code == 1 and "stale" in refused.err, refused.text
    assert tenant.tenant_config("schedule/entra-incremental")["schedule"] == "0 0 * * * ?"  # nothing written
    text = plan_file.read_bytes().decode("utf-8", "replace")
    assert not [s for s in tenant.secrets() if s in text]


def test_a_write_the_tenant_loses_is_detected_and_written_again(tenant: TenantRepo) -> None:
    _applied(tenant)
    fault = tenant.aic.inject_fault("lose-write,count=1,path=/openidm/config/mapping/")
    mapping = tenant.root / "environments" / ENV / "mapping.yaml"
    mapping.write_text(mapping.read_text().replace("{source: surname, target: sn}",
                                                   "{source: surname, target: sn, transform: trim}", 1))

    tenant.apply()
    assert fault.count == 0  # the first PUT of the mapping was answered 200 and not kept
    [prop] = [p for p in tenant.tenant_config(MAPPING)["properties"] if p["target"] == "sn"]
    assert "transform" in prop  # the second PUT, after the read-back showed the first was lost
    assert tenant.cli("plan", "--env", ENV, "--detailed-exitcode").code == 0


def test_a_mapping_of_the_same_name_in_sync_is_refused(tenant: TenantRepo) -> None:
    tenant.aic.put_config("sync", {"_id": "sync", "mappings": [
        {"name": "systemEntraUser_managedAlpha_user", "source": "system/Entra/User", "target": "managed/alpha_user",
         "properties": [], "policies": []}]})
    assert tenant.cli("init", "--env", ENV).code == 0
    refused = tenant.cli("plan", "--env", ENV)
    assert refused.code == 1 and "config/sync" in refused.err and "spec.aic.name" in refused.err, refused.text
    refused = tenant.cli("apply", "--env", ENV, "--auto-approve")
    assert refused.code == 1
    assert CONNECTOR not in tenant.aic.config.objects  # nothing was written


def test_import_then_plan_shows_no_changes(tenant: TenantRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    _applied(tenant)
    # A second environment on the same tenant starts with only its environment.yaml, and adopts it.
    aim(tenant.root, "adopted", tenant.aic, tenant.graph)
    folder = tenant.root / "environments" / "adopted"
    for path in folder.iterdir():
        if path.name != "environment.yaml":
            path.unlink()
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", tenant.graph.client_secret_path.read_text().strip())

    imported = tenant.cli("import", "--env", "adopted")
    assert imported.code == 0, imported.text
    assert {p.name for p in folder.iterdir()} == {"environment.yaml", "connector.yaml", "mapping.yaml",
                                                  "application.yaml", "schedule.yaml"}
    planned = tenant.cli("plan", "--env", "adopted", "--detailed-exitcode")
    assert planned.code == 0, planned.text


def test_no_secret_in_output_plan_files_renderings_or_state(tenant: TenantRepo, tmp_path: Path) -> None:
    assert tenant.cli("init", "--env", ENV).code == 0
    plan_file = tmp_path / "first.plan"
    assert tenant.cli("plan", "--env", ENV, "--out", str(plan_file)).code == 0
    assert tenant.cli("apply", "--env", ENV, str(plan_file)).code == 0
    tenant.cli("plan", "--env", ENV, "--json")
    tenant.cli("state", "show", "--env", ENV)
    tenant.cli("connector", "test", "--env", ENV, "--json")
    rendered = tmp_path / "rendered"
    assert tenant.cli("render", "--env", ENV, "--out", str(rendered)).code == 0
    written = [plan_file.read_bytes(), *(p.read_bytes() for p in rendered.rglob("*.json")),
               *(p.read_bytes() for p in (tenant.root / ".idmctl").iterdir())]
    haystack = "\n".join(tenant.transcript) + "\n".join(b.decode("utf-8", "replace") for b in written)
    assert not [s for s in tenant.secrets() if s in haystack]
