"""/openidm/config as AIC answers it: upsert 201/200, verbatim, no _rev, $crypto for plaintext secrets, CREST 404."""

from __future__ import annotations

from urllib.parse import quote

from controller.emulator.aic import AicEmulator
from tests.emulator.aic.conftest import Tenant

# The shape of a real per-mapping object (reference §7.3 (2)), with fields in a deliberate order.
MAPPING = {"_id": "mapping/mapping6", "name": "mapping6", "displayName": "mapping6", "linkQualifiers": [],
           "consentRequired": False, "policies": [], "properties": [], "source": "managed/bravo_user",
           "target": "managed/bravo_user", "syncAfter": [], "x-unknown": {"kept": [1, None, "as given"]}}


def connector(secret: object) -> dict[str, object]:
    return {"connectorRef": {"bundleName": "org.forgerock.openicf.connectors.msgraphapi-connector",
                             "bundleVersion": "[1.5.0.0,1.6.0.0)", "displayName": "MSGraphAPI Connector",
                             "connectorName": "org.forgerock.openicf.connectors.msgraphapi.MSGraphAPIConnector",
                             "systemType": "provisioner.openicf"},
            "enabled": True,
            "configurationProperties": {"tenant": "&{esv.idmctl.entra.tenant.id}", "clientId": "abc",
                                        "clientSecret": secret, "httpProxyPassword": None}}


def test_put_is_an_upsert_201_then_200_with_the_doubled_location(aic_emulator: AicEmulator, tenant: Tenant) -> None:
    created = tenant.put("/openidm/config/mapping/mapping6?waitForCompletion=true", MAPPING)
    assert created.status_code == 201
    assert created.headers["Location"] == f"{aic_emulator.base_url}/openidm/config/mapping/mapping/mapping6"
    assert created.json() == MAPPING
    assert list(created.json()) == list(MAPPING)  # the echo keeps the order it was given
    replaced = tenant.put("/openidm/config/mapping/mapping6?waitForCompletion=true", {**MAPPING, "policies": [1]})
    assert replaced.status_code == 200 and "Location" not in replaced.headers
    assert replaced.json()["policies"] == [1]


def test_stored_verbatim_with_no_rev(tenant: Tenant) -> None:
    tenant.put("/openidm/config/mapping/mapping6", {**MAPPING, "_rev": "7"}, headers={"If-Match": '"nope"'})
    read = tenant.get("/openidm/config/mapping/mapping6")
    assert read.status_code == 200 and read.json() == MAPPING
    assert "_rev" not in read.json() and "ETag" not in read.headers


def test_the_id_comes_from_the_path(tenant: Tenant) -> None:
    body = {k: v for k, v in MAPPING.items() if k != "_id"}
    assert tenant.put("/openidm/config/mapping/other", body).json()["_id"] == "mapping/other"


def test_missing_is_a_crest_404(tenant: Tenant) -> None:
    resp = tenant.get("/openidm/config/mapping/nope")
    assert resp.status_code == 404
    assert resp.json() == {"code": 404, "reason": "Not Found", "message": "Not Found"}
    assert tenant.delete("/openidm/config/mapping/nope").status_code == 404


def test_delete_echoes_then_404(tenant: Tenant) -> None:
    tenant.put("/openidm/config/mapping/mapping6", MAPPING)
    gone = tenant.delete("/openidm/config/mapping/mapping6")
    assert gone.status_code == 200 and gone.json() == MAPPING
    assert tenant.get("/openidm/config/mapping/mapping6").status_code == 404


def test_ids_with_spaces_url_encoded(aic_emulator: AicEmulator, tenant: Tenant) -> None:
    path = "/openidm/config/schedule/" + quote("EWF Users to alpha_user")
    schedule = {"enabled": True, "type": "cron", "schedule": "0 0/15 * * * ?", "invokeService": "provisioner"}
    created = tenant.put(path, schedule)
    assert created.status_code == 201 and created.json()["_id"] == "schedule/EWF Users to alpha_user"
    assert created.headers["Location"].endswith("/openidm/config/schedule/schedule/EWF%20Users%20to%20alpha_user")
    assert tenant.get(path).json()["schedule"] == "0 0/15 * * * ?"


def test_list_and_query_by_prefix(tenant: Tenant) -> None:
    tenant.put("/openidm/config/mapping/mapping6", MAPPING)
    tenant.put("/openidm/config/provisioner.openicf/Entra", connector("&{esv.idmctl.entra.client.secret}"))
    listing = tenant.get("/openidm/config").json()
    assert listing["_id"] == ""
    assert {"_id": "provisioner.openicf/Entra", "pid": "provisioner.openicf.Entra",
            "factoryPid": "provisioner.openicf"} in listing["configurations"]
    assert "sync" in [c["_id"] for c in listing["configurations"]]  # a tenant always has its sync document
    for flt in ('_id sw "mapping"', "_id sw 'mapping'"):
        page = tenant.get("/openidm/config", params={"_queryFilter": flt}).json()
        assert [o["_id"] for o in page["result"]] == ["mapping/mapping6"]
        assert page["resultCount"] == 1 and page["pagedResultsCookie"] is None
        assert page["remainingPagedResults"] == -1 and "totalPagedResultsPolicy" in page
    everything = tenant.get("/openidm/config?_queryFilter=true").json()
    assert {o["_id"] for o in everything["result"]} == {"sync", "mapping/mapping6", "provisioner.openicf/Entra"}


def test_plaintext_connector_secret_reads_back_as_crypto(tenant: Tenant) -> None:
    plaintext = "Sup3r-S3cret-V4lue-7f1c9e"
    echoed = tenant.put("/openidm/config/provisioner.openicf/Entra", connector(plaintext)).json()
    secret = echoed["configurationProperties"]["clientSecret"]
    assert secret["$crypto"]["type"] == "x-simple-encryption"
    assert secret["$crypto"]["value"]["purpose"] == "idm.config.encryption"
    read = tenant.get("/openidm/config/provisioner.openicf/Entra")
    assert plaintext not in read.text and read.json()["configurationProperties"]["clientSecret"] == secret
    assert read.json()["configurationProperties"]["httpProxyPassword"] is None


def test_an_esv_placeholder_secret_is_kept_verbatim(tenant: Tenant) -> None:
    body = connector("&{esv.idmctl.entra.client.secret}")
    assert tenant.put("/openidm/config/provisioner.openicf/Entra", body).json() == {
        "_id": "provisioner.openicf/Entra", **body}
    assert tenant.get("/openidm/config/provisioner.openicf/Entra").json()["configurationProperties"][
        "clientSecret"] == "&{esv.idmctl.entra.client.secret}"


def test_a_secret_outside_a_connector_is_just_data(tenant: Tenant) -> None:
    body = {"configurationProperties": {"clientSecret": "not-a-connector"}}
    assert tenant.put("/openidm/config/custom/thing", body).json()["configurationProperties"] == {
        "clientSecret": "not-a-connector"}


def test_patch_replaces_a_field(tenant: Tenant) -> None:
    tenant.put("/openidm/config/mapping/mapping6", MAPPING)
    patched = tenant.request("PATCH", "/openidm/config/mapping/mapping6",
                             json=[{"operation": "replace", "field": "/displayName", "value": "Six"}])
    assert patched.status_code == 200 and patched.json()["displayName"] == "Six"
    assert tenant.get("/openidm/config/mapping/mapping6").json()["displayName"] == "Six"


def test_the_sync_document_keeps_its_order(tenant: Tenant) -> None:
    mappings = [{"name": n, "source": "managed/alpha_user", "target": "managed/bravo_user", "syncAfter": []}
                for n in ("zeta", "alpha", "mid")]
    assert tenant.put("/openidm/config/sync?waitForCompletion=true", {"mappings": mappings}).status_code == 200
    assert [m["name"] for m in tenant.get("/openidm/config/sync").json()["mappings"]] == ["zeta", "alpha", "mid"]
