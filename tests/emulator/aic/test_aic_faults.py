"""Faults (throttling, 5xx, a restart that hangs, a lost write) and the admin API tests drive the tenant with."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from controller.emulator.aic import AicEmulator, AicFault
from controller.errors import EmulatorError, UsageError
from tests.emulator.aic.conftest import Tenant, mint, pinned, tenant_for, token_request

MAPPING = {"name": "systemEntraUser_managedAlpha_user", "source": "system/Entra/User", "target": "managed/alpha_user"}
MAPPING_PATH = "/openidm/config/mapping/systemEntraUser_managedAlpha_user"


def test_429_with_retry_after_on_a_path_then_clears(aic_emulator: AicEmulator, tenant: Tenant) -> None:
    aic_emulator.inject_fault("429,retry-after=1,count=2,path=/openidm/config")
    assert tenant.get("/environment/startup").status_code == 200  # another path: untouched
    for _ in range(2):
        throttled = tenant.get("/openidm/config")
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
        assert throttled.json() == {"code": 429, "reason": "Too Many Requests", "message": "Too Many Requests"}
    assert tenant.get("/openidm/config").status_code == 200


def test_5xx_and_drop(aic_emulator: AicEmulator, tenant: Tenant) -> None:
    aic_emulator.inject_fault("503,count=1,path=/environment")
    failed = tenant.get("/environment/variables")
    assert failed.status_code == 503 and failed.json()["code"] == 503
    aic_emulator.inject_fault("drop,count=1,path=/openidm")
    with pytest.raises(requests.ConnectionError):
        tenant.get("/openidm/config")
    assert tenant.get("/openidm/config").status_code == 200


def test_the_token_endpoint_can_be_throttled(aic_emulator: AicEmulator, session: requests.Session) -> None:
    aic_emulator.inject_fault("429,retry-after=2,path=/am/")
    resp = token_request(aic_emulator, session, mint(aic_emulator))
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "2"
    assert token_request(aic_emulator, session, mint(aic_emulator)).status_code == 200


def test_restart_hang_never_finishes_until_told(aic_emulator: AicEmulator, tenant: Tenant) -> None:
    aic_emulator.inject_fault("restart-hang")
    assert tenant.get("/environment/startup").json() == {"restartStatus": "ready"}  # a GET does not take it
    assert tenant.post("/environment/startup?_action=restart").status_code == 200
    for _ in range(3):  # --restart-seconds is 0, yet it stays restarting
        assert tenant.get("/environment/startup").json() == {"restartStatus": "restarting"}
    assert tenant.post("/environment/startup?_action=restart").status_code == 409
    aic_emulator.finish_restart()
    assert tenant.get("/environment/startup").json() == {"restartStatus": "ready"}


def test_a_lost_write_is_answered_and_echoed_but_not_stored(aic_emulator: AicEmulator, tenant: Tenant) -> None:
    aic_emulator.inject_fault("lose-write,count=1,path=/openidm/config/mapping/")
    lost = tenant.put(MAPPING_PATH + "?waitForCompletion=true", MAPPING)
    assert lost.status_code == 201 and lost.json()["name"] == MAPPING["name"]
    assert tenant.get(MAPPING_PATH).status_code == 404  # AIC's read-after-write loss
    assert tenant.put(MAPPING_PATH + "?waitForCompletion=true", MAPPING).status_code == 201  # the retry sticks
    assert tenant.get(MAPPING_PATH).json() == {"_id": "mapping/systemEntraUser_managedAlpha_user", **MAPPING}


def test_fault_specs() -> None:
    assert AicFault.parse("lose-write,count=1,path=/openidm/config/mapping/").path == "/openidm/config/mapping/"
    assert AicFault.parse("restart-hang").count == 1
    assert AicFault.parse("429,retry-after=1,count=3").retry_after == 1
    with pytest.raises(UsageError):
        AicFault.parse("next-link-loop")
    with pytest.raises(UsageError):
        AicFault.parse("wobble")


def test_constructor_faults(tmp_path: Path) -> None:
    with AicEmulator(tmp_path, faults=["500,count=1,path=/openidm/managed"]) as emu, pinned(emu) as session:
        tenant = tenant_for(emu, session)
        assert tenant.get("/openidm/managed/alpha_user?_queryFilter=true").status_code == 500


def test_admin_api_needs_its_token(aic_emulator: AicEmulator, session: requests.Session) -> None:
    url = f"{aic_emulator.base_url}/_emulator/info"
    assert session.get(url, timeout=30).status_code == 401
    assert session.get(url, headers={"X-Emulator-Token": "wrong"}, timeout=30).status_code == 403
    info = session.get(url, headers=aic_emulator.admin_headers(), timeout=30).json()
    assert info["tenantUrl"] == aic_emulator.base_url and info["restartStatus"] == "ready"
    assert info["serviceAccountKeyFile"].endswith("service-account.jwk")


def test_admin_edits_as_a_person_in_the_console(aic_emulator: AicEmulator, tenant: Tenant) -> None:
    tenant.put(MAPPING_PATH, MAPPING)
    edited = tenant.admin("PUT", "config/mapping/systemEntraUser_managedAlpha_user", {**MAPPING, "icon": "drift"})
    assert edited.status_code == 200
    assert tenant.get(MAPPING_PATH).json()["icon"] == "drift"  # drift, as the plan must see it

    user = tenant.admin("POST", "users", {"userName": "second-owner", "givenName": "S", "sn": "O",
                                          "mail": "so@example.com"})
    assert user.status_code == 201 and user.json()["_rev"]
    found = tenant.get('/openidm/managed/alpha_user?_queryFilter=userName eq "second-owner"').json()["result"]
    assert [u["_id"] for u in found] == [user.json()["_id"]]

    app_path = "managed/alpha_application/0f357b7e-6c54-4351-a094-43916877d7e5"
    rev = tenant.put(f"/openidm/{app_path}", {"name": "Entra"}).json()["_rev"]
    changed = tenant.admin("PUT", app_path, {"name": "Entra", "description": "changed in the console"}).json()
    assert changed["_rev"] != rev

    tenant.put("/environment/secrets/esv-s", {"valueBase64": "eA==", "useInPlaceholders": True})
    store = tenant.admin("GET", "store").json()
    assert store["config"]["mapping/systemEntraUser_managedAlpha_user"]["icon"] == "drift"
    assert "valueBase64" not in store["secrets"][0]["versions"][0]  # secret values never leave
    assert tenant.admin("DELETE", "config/mapping/systemEntraUser_managedAlpha_user").status_code == 204
    assert tenant.get(MAPPING_PATH).status_code == 404


def test_admin_faults_and_reset(aic_emulator: AicEmulator, tenant: Tenant) -> None:
    added = tenant.admin("POST", "faults", {"spec": "lose-write,count=1,path=/openidm/config/mapping/"})
    assert added.status_code == 201 and added.json()["kind"] == "lose-write"
    assert [f["kind"] for f in tenant.admin("GET", "faults").json()["value"]] == ["lose-write"]
    tenant.put("/openidm/config/mapping/other", MAPPING)  # takes the fault's one shot
    assert tenant.admin("GET", "faults").json()["value"] == []
    tenant.put("/openidm/config/schedule/x", {"enabled": True})
    assert tenant.admin("POST", "reset").status_code == 204
    assert tenant.get("/openidm/config/schedule/x").status_code == 404
    assert tenant.get("/openidm/config/sync").json() == {"_id": "sync", "mappings": []}
    assert tenant.get(f"/openidm/managed/svcacct/{aic_emulator.service_account_id}").status_code == 200


def test_a_missing_entra_ca_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(EmulatorError, match="--entra-ca"):
        AicEmulator(tmp_path, entra_ca=tmp_path / "nope.pem").start()


def test_the_tenant_survives_an_emulator_restart(tmp_path: Path) -> None:
    with AicEmulator(tmp_path) as emu, pinned(emu) as session:
        tenant = tenant_for(emu, session)
        tenant.put(MAPPING_PATH, MAPPING)
        tenant.put("/environment/variables/esv-kept", {"valueBase64": "eA=="})
        jwk = emu.service_account_jwk_path.read_text()
    with AicEmulator(tmp_path) as emu, pinned(emu) as session:
        tenant = tenant_for(emu, session)  # the same key still works
        assert tenant.get(MAPPING_PATH).json()["name"] == MAPPING["name"]
        assert tenant.get("/environment/variables/esv-kept").json()["loaded"] is False
        assert emu.service_account_jwk_path.read_text() == jwk
