"""ESVs and the restart: pending until a restart, loaded after, create-only secrets, version dedupe, AIC's refusals."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import requests

from controller.emulator.aic import AicEmulator
from tests.emulator.aic.conftest import Tenant, pinned, tenant_for


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


SECRET_BODY = {"valueBase64": b64("s3cret-one"), "description": "Entra client secret", "encoding": "generic",
               "useInPlaceholders": True}


def test_a_variable_is_pending_until_a_restart(tenant: Tenant) -> None:
    put = tenant.put("/environment/variables/esv-idmctl-entra-tenant-id",
                     {"valueBase64": b64("711ffa9c"), "description": "tenant", "expressionType": "string"})
    assert put.status_code == 200
    var = put.json()
    assert var["_id"] == "esv-idmctl-entra-tenant-id" and var["loaded"] is False and "_rev" not in var
    assert set(var) == {"_id", "description", "expressionType", "lastChangeDate", "lastChangedBy", "loaded",
                        "valueBase64"}
    assert tenant.get("/environment/count?_onlyPending=true").json() == {"secrets": 0, "variables": 1}
    assert tenant.post("/environment/startup?_action=restart").json() == {"restartStatus": "restarting"}
    assert tenant.get("/environment/startup").json() == {"restartStatus": "ready"}  # --restart-seconds 0
    assert tenant.get("/environment/variables/esv-idmctl-entra-tenant-id").json()["loaded"] is True
    assert tenant.get("/environment/count?_onlyPending=true").json() == {"secrets": 0, "variables": 0}


def test_a_restart_while_restarting_is_refused(tmp_path: Path) -> None:
    with AicEmulator(tmp_path, restart_seconds=3600) as emu, pinned(emu) as session:
        tenant = tenant_for(emu, session)
        assert tenant.post("/environment/startup?_action=restart").status_code == 200
        assert tenant.get("/environment/startup").json() == {"restartStatus": "restarting"}
        again = tenant.post("/environment/startup?_action=restart")
        assert again.status_code == 409
        assert again.json()["code"] == 409 and "restarting" in again.json()["message"]
        assert tenant.admin("POST", "restart/finish").status_code == 204
        assert tenant.get("/environment/startup").json() == {"restartStatus": "ready"}


def test_secret_put_is_create_only_and_versions_dedupe(tenant: Tenant) -> None:
    path = "/environment/secrets/esv-idmctl-entra-client-secret"
    created = tenant.put(path, SECRET_BODY)
    assert created.status_code == 200
    secret = created.json()
    assert secret["activeVersion"] == "1" and secret["loadedVersion"] == "" and secret["loaded"] is False
    assert "valueBase64" not in secret and "s3cret" not in created.text
    again = tenant.put(path, SECRET_BODY)
    assert again.status_code == 400
    assert again.json() == {"code": 400, "message": "Failed to create secret, the secret already exists"}

    tenant.post("/environment/startup?_action=restart")
    assert tenant.get(path).json()["loadedVersion"] == "1"
    same = tenant.post(f"{path}/versions?_action=create", {"valueBase64": SECRET_BODY["valueBase64"]})
    assert same.status_code == 200 and same.json()["version"] == "1" and same.json()["loaded"] is True
    new = tenant.post(f"{path}/versions?_action=create", {"valueBase64": b64("s3cret-two")}).json()
    assert new["version"] == "2" and new["loaded"] is False and new["status"] == "ENABLED"
    after = tenant.get(path).json()
    assert (after["activeVersion"], after["loadedVersion"], after["loaded"]) == ("2", "1", False)
    versions = tenant.get(f"{path}/versions").json()
    assert [v["version"] for v in versions] == ["2", "1"]  # a bare array, newest first
    assert set(versions[0]) == {"createDate", "loaded", "status", "version"}


def test_secret_errors(tenant: Tenant) -> None:
    missing = tenant.get("/environment/secrets/esv-none")
    assert missing.status_code == 404
    assert missing.json() == {"code": 404, "message": "The secret does not exist or does not have a version"}
    no_version = tenant.post("/environment/secrets/esv-none/versions?_action=create", {"valueBase64": b64("x")})
    assert no_version.json() == {"code": 404, "message": "Failed to create secret version"}
    body = {k: v for k, v in SECRET_BODY.items() if k != "useInPlaceholders"}
    assert tenant.put("/environment/secrets/esv-a", body).status_code == 400


def test_variable_rules(tenant: Tenant) -> None:
    bad_id = tenant.put("/environment/variables/Terraform_esv-x", {"valueBase64": b64("x")})
    assert bad_id.status_code == 400 and "regular expression" in bad_id.json()["message"]
    assert tenant.put("/environment/variables/esv-n", {"valueBase64": b64("1"), "expressionType": "int"}).ok
    changed = tenant.put("/environment/variables/esv-n", {"valueBase64": b64("x"), "expressionType": "string"})
    assert changed.status_code == 400
    assert changed.json()["message"] == "Changing the type of an existing variable is not permitted"
    assert tenant.get("/environment/variables?_pageSize=101").status_code == 400
    missing = tenant.get("/environment/variables/esv-none")
    assert missing.json() == {"code": 404, "message": "The variable does not exist"}
    deleted = tenant.delete("/environment/variables/esv-n")
    assert deleted.status_code == 200 and deleted.json()["_id"] == "esv-n"
    assert tenant.get("/environment/variables/esv-n").status_code == 404  # deletes are never pending


def test_variables_list_pages_with_cookies(tenant: Tenant) -> None:
    for i in range(5):
        tenant.put(f"/environment/variables/esv-v{i}", {"valueBase64": b64(str(i))})
    first = tenant.get("/environment/variables?_pageSize=3").json()
    assert [v["_id"] for v in first["result"]] == ["esv-v0", "esv-v1", "esv-v2"]
    rest = tenant.get(f"/environment/variables?_pageSize=3&_pagedResultsCookie={first['pagedResultsCookie']}").json()
    assert [v["_id"] for v in rest["result"]] == ["esv-v3", "esv-v4"] and rest["pagedResultsCookie"] is None
    pending = tenant.get('/environment/variables?_queryFilter=/_id co "v3"').json()["result"]
    assert [v["_id"] for v in pending] == ["esv-v3"]


@pytest.mark.parametrize("value", ["&{esv.idmctl.tenant}", "x-&{esv.idmctl.tenant}-y", "&{esv.idmctl.none|fallback}"])
def test_placeholders_resolve_from_loaded_values_only(aic_emulator: AicEmulator, tenant: Tenant,
                                                      session: requests.Session, value: str) -> None:
    from controller.emulator.aic._system import resolve_placeholders

    tenant.put("/environment/variables/esv-idmctl-tenant", {"valueBase64": b64("T1")})
    missing: list[str] = []
    before = resolve_placeholders(value, aic_emulator.esv.resolve, missing)
    tenant.post("/environment/startup?_action=restart")
    tenant.put("/environment/variables/esv-idmctl-tenant", {"valueBase64": b64("T2")})  # pending again
    after = resolve_placeholders(value, aic_emulator.esv.resolve, [])
    if "none" in value:
        assert before == after == "fallback" and not missing
    else:
        assert missing == ["&{esv.idmctl.tenant}"] and after == value.replace("&{esv.idmctl.tenant}", "T1")
