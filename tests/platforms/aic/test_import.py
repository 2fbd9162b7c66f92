"""`import` as the inverse of the renderer: what idmctl renders comes back as the same resources, and a
real tenant's objects (``exports``) become resources with a note for every field idmctl cannot express."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from controller.config import ResourceSet, load_environment
from controller.config.models import (
    ApplicationResource,
    ConnectorResource,
    MappingResource,
    Resource,
    ScheduleResource,
)
from controller.platforms.aic import (
    ImportResult,
    NativeObject,
    TenantApi,
    TenantSnapshot,
    import_tenant,
    read_snapshot,
    render_resources,
)
from tests.platforms.aic import exports

REPO = Path(__file__).resolve().parents[3]
SECRET_NOTE = "/configurationProperties/clientSecret"


def snapshot_of(objects: tuple[NativeObject, ...], users: dict[str, str] | None = None) -> TenantSnapshot:
    """The tenant a rendering leaves after apply, as read back: config ids in the bodies, ESV records with
    their base64 values and loaded flags, applications with a _rev and owners by id."""
    snap: dict[str, dict[str, Any]] = {k: {} for k in ("connectors", "mappings", "schedules", "applications",
                                                         "variables", "secrets")}
    ids = {name: f"id-{name}" for name in (users or {})}
    for obj in objects:
        body = copy.deepcopy(obj.body)
        if obj.kind == "variable":
            assert obj.value is not None
            snap["variables"][obj.id] = {**body, "valueBase64": base64.b64encode(obj.value.encode()).decode(),
                                         "loaded": True, "lastChangeDate": "2026-11-30T10:00:00Z",
                                         "lastChangedBy": "idmctl"}
        elif obj.kind == "secret":
            snap["secrets"][obj.id] = {**body, "activeVersion": "1", "loadedVersion": "1", "loaded": True}
        elif obj.kind == "application":
            for owner in body["owners"]:
                user = owner["_ref"].split("{userName=")[1].rstrip("}")
                owner.update({"_ref": f"managed/alpha_user/{ids[user]}", "_refResourceId": ids[user],
                              "_refResourceCollection": "managed/alpha_user",
                              "_refProperties": {"_id": "rel-1", "_rev": "3"}})
            snap["applications"][obj.id] = {**body, "_rev": "2"}
        else:
            snap[{"connector": "connectors", "mapping": "mappings", "schedule": "schedules"}[obj.kind]][obj.id] = body
    return TenantSnapshot(**snap, users={v: k for k, v in ids.items()})


def resource_set(result: ImportResult, like: ResourceSet) -> ResourceSet:
    def of(kind: type[Resource]) -> dict[str, Any]:
        return {r.metadata.name: r for r in result.resources if isinstance(r, kind)}

    return ResourceSet(environment=like.environment, connectors=of(ConnectorResource), mappings=of(MappingResource),
                       applications=of(ApplicationResource), schedules=of(ScheduleResource))


def natives(resources: ResourceSet) -> dict[str, tuple[Any, ...]]:
    return {o.id: (o.kind, o.body, o.value, o.secret) for o in render_resources(resources).objects}


def round_trip(resources: ResourceSet) -> ImportResult:
    """Render, read back as a tenant would hold it, import, render again: the same native objects."""
    owners = {u for app in resources.applications.values() for u in app.spec.owners}
    rendered = render_resources(resources).objects
    result = import_tenant(snapshot_of(rendered, dict.fromkeys(owners, "")), environment=resources.name)
    assert natives(resource_set(result, resources)) == natives(resources)
    # The only note: the client secret, whose value AIC never gives back.
    assert {(n.native_id.split("/")[0], n.pointer) for n in result.notes} == {("provisioner.openicf", SECRET_NOTE)}
    return result


@pytest.mark.parametrize("env", ["demo", "dev", "prod"])
def test_the_shipped_environments_round_trip(env: str) -> None:
    resources = load_environment(REPO, env).resources
    result = round_trip(resources)
    assert {f"{r.kind}.{r.metadata.name}" for r in result.resources} == {
        "Connector.entra", "Mapping.entra-users", "Application.microsoft-entra-id", "Schedule.entra-incremental"}
    assert result.secrets == ("entra_client_secret",)
    # The metadata names derived from the native ones are the shipped ones: no pin is needed.
    assert all(getattr(r.spec, "aic", None) is None for r in result.resources)
    assert resource_set(result, resources).mappings["entra-users"].spec == resources.mappings["entra-users"].spec


def _changed(resources: ResourceSet, kind: str, name: str, **spec: Any) -> ResourceSet:
    group = {"Connector": "connectors", "Mapping": "mappings", "Application": "applications",
             "Schedule": "schedules"}[kind]
    items = dict(getattr(resources, group))
    old = items.get(name) or next(iter(items.values()))
    data = old.model_dump(mode="json", by_alias=True)
    data["metadata"]["name"] = name
    data["spec"].update(spec)
    items[name] = type(old).model_validate(data)
    return ResourceSet(**{**{g: getattr(resources, g) for g in ("connectors", "mappings", "applications",
                                                                 "schedules")}, group: items},
                       environment=resources.environment)


def test_every_form_the_renderer_writes_round_trips() -> None:
    resources = load_environment(REPO, "dev").resources
    resources = _changed(resources, "Mapping", "entra-users", properties=[
        {"source": "givenName", "target": "givenName", "transform": "trim"},
        {"source": "mail", "target": "mail", "transform": ["trim", "lower"]},
        {"source": "surname", "target": "sn", "default": "(none)"},
        {"source": "userPrincipalName", "target": "userName", "transform": "lower"},
        {"source": "accountEnabled", "target": "accountStatus",
         "transform": {"map": {"true": "active", "false": "inactive"}, "default": "inactive"}},
        {"source": "onPremisesExtensionAttributes/extensionAttribute1", "target": "frIndexedString1"},
        {"target": "description", "default": "from Entra"},
        {"source": "id", "target": "frIndexedString2", "transform": "upper"},
    ], correlation={"all": ["userName", "mail"]},
        sourceFilter='(mail sw "s" or not (userType eq "Guest")) and id pr and department eq null',
        validSource='accountEnabled eq true and not (mail co "test")', targetScope="all",
        policies={"base": "read-only", "rules": {"ABSENT": "CREATE", "CONFIRMED": "UPDATE", "FOUND": "LINK"}})
    resources = _changed(resources, "Schedule", "entra-full", mode="full", cron="0 30 2 ? * MON-FRI",
                         timeZone="Europe/Berlin", enabled=False, misfirePolicy="doNothing")
    resources = _changed(resources, "Application", "microsoft-entra-id", authoritative=False,
                         owners=["app-owner", "second-owner"])
    app = resources.applications["microsoft-entra-id"]
    data = app.model_dump(mode="json", by_alias=True)
    data["metadata"]["description"] = "Users from Entra ID"
    resources.applications["microsoft-entra-id"] = ApplicationResource.model_validate(data)
    result = round_trip(resources)
    mapping = next(r for r in result.resources if isinstance(r, MappingResource))
    assert mapping.spec.correlation is not None and mapping.spec.correlation.all == ["userName", "mail"]
    assert mapping.spec.targetScope == "all" and mapping.spec.policies.base == "read-only"
    [full] = [r for r in result.resources if isinstance(r, ScheduleResource) and r.spec.mode == "full"]
    assert (full.spec.timeZone, full.spec.enabled, full.spec.misfirePolicy) == ("Europe/Berlin", False, "doNothing")


def test_pinned_names_and_esv_ids_round_trip() -> None:
    resources = load_environment(REPO, "dev").resources
    esv = {"tenantId": "esv-azure-tenant-id", "clientId": "esv-azure-client-id",
           "clientSecret": "esv-azure-client-secret"}
    resources = _changed(resources, "Connector", "entra", aic={"name": "MSGraph_1", "esv": esv})
    resources = _changed(resources, "Mapping", "entra-users", aic={"name": "entraToAlpha"})
    resources = _changed(resources, "Schedule", "entra-incremental", aic={"name": "EWF Users to alpha_user"})
    resources = _changed(resources, "Application", "microsoft-entra-id", aic={"id": exports.APP_ID})
    rendered = {o.id for o in render_resources(resources).objects}
    assert {"provisioner.openicf/MSGraph_1", "mapping/entraToAlpha", "schedule/EWF Users to alpha_user",
            f"managed/alpha_application/{exports.APP_ID}", *esv.values()} <= rendered
    result = round_trip(resources)
    by_kind = {r.kind: r for r in result.resources}
    connector = by_kind["Connector"]
    assert isinstance(connector, ConnectorResource) and connector.spec.aic is not None
    assert connector.spec.aic.name == "MSGraph_1"
    assert connector.spec.aic.esv is not None and connector.spec.aic.esv.model_dump() == esv
    assert connector.metadata.name == "entra"  # the ESVs idmctl wrote name the connector's resource
    assert by_kind["Schedule"].metadata.name == "ewf-users-to-alpha-user"
    assert by_kind["Mapping"].spec.aic.name == "entraToAlpha"  # type: ignore[union-attr]  # a Mapping


def test_an_esv_pin_renders_the_placeholders_and_the_esvs() -> None:
    resources = _changed(load_environment(REPO, "dev").resources, "Connector", "entra",
                         aic={"esv": {"clientSecret": "esv-gac-secret"}})
    objects = {o.id: o for o in render_resources(resources).objects}
    props = objects["provisioner.openicf/Entra"].body["configurationProperties"]
    assert props["clientSecret"] == "&{esv.gac.secret}"  # the pinned one (§4.2's real example)
    assert props["tenant"] == "&{esv.idmctl.entra.tenant.id}"  # unpinned ones stay idmctl's
    assert objects["esv-gac-secret"].kind == "secret" and "esv-idmctl-entra-client-secret" not in objects


@pytest.mark.parametrize("esv", [{"tenantId": "esv-Azure"}, {"clientId": "azure-client-id"},
                                 {"tenantId": "esv-a", "clientId": "esv-a"}])
def test_an_esv_pin_is_validated(esv: dict[str, str]) -> None:
    data = load_environment(REPO, "dev").resources.connectors["entra"].model_dump(mode="json")
    data["spec"]["aic"] = {"esv": esv}
    with pytest.raises(ValueError, match="esv|ESV"):
        ConnectorResource.model_validate(data)


# --- a tenant shaped like the real exports ------------------------------------------------------------------


def _notes(result: ImportResult) -> dict[tuple[str, str], str]:
    return {(n.native_id, n.pointer): n.reason for n in result.notes}


def test_a_real_tenant_becomes_resources_with_a_note_per_field() -> None:
    snapshot = exports.snapshot()
    result = import_tenant(snapshot, environment="dev")
    by_address = {f"{r.kind}.{r.metadata.name}": r for r in result.resources}
    assert set(by_address) == {"Connector.azure", "Mapping.azure-users", "Application.azure",
                               "Schedule.azure-users-full"}
    connector, mapping = by_address["Connector.azure"], by_address["Mapping.azure-users"]
    assert isinstance(connector, ConnectorResource) and isinstance(mapping, MappingResource)
    assert (connector.spec.tenantId, connector.spec.clientId) == (exports.TENANT_ID, exports.CLIENT_ID)
    assert connector.spec.clientSecret == "${secret.azure_client_secret}" and connector.spec.aic is None
    assert [p.target for p in mapping.spec.properties] == ["givenName", "mail", "sn", "userName"]
    assert mapping.spec.correlation is not None and mapping.spec.correlation.any == ["mail"]
    assert mapping.spec.sourceFilter == 'mail eq "scarter@example.com"'
    assert mapping.spec.policies.model_dump(mode="json") == {"base": "read-only", "rules": {"CONFIRMED": "UPDATE"}}
    app = by_address["Application.azure"]
    assert isinstance(app, ApplicationResource) and app.spec.owners == ["app-owner"]
    assert app.spec.aic is not None and app.spec.aic.id == exports.APP_ID and not app.spec.authoritative
    schedule = by_address["Schedule.azure-users-full"]
    assert isinstance(schedule, ScheduleResource) and schedule.spec.aic is not None
    assert (schedule.spec.mode, schedule.spec.enabled, schedule.spec.aic.name) == ("full", False, "Azure users full")

    notes = _notes(result)
    conn, mid = "provisioner.openicf/Azure", "mapping/systemAzureUser_managedAlpha_user"
    expected = {
        (conn, "/configurationProperties/tenant"): "plaintext",
        (conn, "/configurationProperties/clientId"): "plaintext",
        (conn, SECRET_NOTE): "$crypto",
        (conn, "/objectTypes/__GROUP__"): "object types",
        (conn, "/objectTypes/User/properties/__roles__"): "object types",
        (mid, "/links"): "links",
        (mid, "/defaultSourceFields"): "template",
        (mid, "/defaultTargetFields"): "template",
        (mid, "/policies/11/action"): "ONBOARD",
        (mid, "/policies/13/situation"): "SOURCE_TARGET_CONFLICT",
        (mid, "/properties/0"): "'assignments'",
        (mid, "/correlationQuery/0/source"): "console",
        ("mapping/managedAlpha_user_systemAzureUser", ""): "outbound",
        (f"managed/alpha_application/{exports.APP_ID}", "/uiConfig"): "display",
        (f"managed/alpha_application/{exports.APP_ID}", "/mappingNames"): "mappings",
        ("schedule/Azure users full", "/timeZone"): "time zone",
        ("schedule/Azure users full", "/recoverable"): "recoverable",
        ("schedule/azureLiveSync", "/schedule"): "not adopted",
    }
    for key, word in expected.items():
        assert key in notes, key
        assert word in notes[key], (key, notes[key])
    assert "declare secret azure_client_secret" in notes[(conn, SECRET_NOTE)]
    assert result.secrets == ("azure_client_secret",)
    # Nothing of the encrypted secret travels: not in a note, not in a resource.
    text = json.dumps([n.reason for n in result.notes]) + json.dumps(
        [r.model_dump(mode="json") for r in result.resources])
    assert exports.CRYPTO_DATA not in text and "x-simple-encryption" not in text


def test_never_silently_every_field_is_rendered_the_same_or_noted() -> None:
    snapshot = exports.snapshot()
    result = import_tenant(snapshot, environment="dev")
    rendered = {o.id: o.body for o in render_resources(resource_set(
        result, load_environment(REPO, "dev").resources)).objects}
    lives = {**snapshot.connectors, **snapshot.mappings, **snapshot.schedules, **snapshot.applications}
    noted = {(n.native_id, n.pointer) for n in result.notes}
    server = {"_rev", "owners"}  # owners compare by userName (their ids exist only on the tenant)
    checked = 0
    for native_id, live in lives.items():
        body = rendered.get(native_id)
        if body is None:
            assert (native_id, "") in noted or any(n[0] == native_id for n in noted), native_id
            continue
        for key, value in live.items():
            if key in server or body.get(key) == value:
                continue
            checked += 1
            assert any(n[0] == native_id and (n[1] == f"/{key}" or n[1].startswith(f"/{key}/")) for n in noted), \
                (native_id, key)
    assert checked >= 10


def test_placeholders_of_a_frodo_tenant_pin_the_esvs_and_read_their_values() -> None:
    snapshot = exports.snapshot()
    connector = dict(snapshot.connectors["provisioner.openicf/Azure"])
    connector["configurationProperties"] = {**connector["configurationProperties"],
                                            "tenant": "&{esv.azure.tenant.id}", "clientId": "&{esv.azure.client.id}",
                                            "clientSecret": "&{esv.azure.client.secret}"}
    variables = {f"esv-azure-{w}-id": {"_id": f"esv-azure-{w}-id", "description": "set by fr-config-manager",
                                       "expressionType": "string", "loaded": True,
                                       "valueBase64": base64.b64encode(v.encode()).decode()}
                 for w, v in (("tenant", exports.TENANT_ID), ("client", exports.CLIENT_ID))}
    snap = TenantSnapshot(**{**snapshot.__dict__, "connectors": {connector["_id"]: connector},
                             "variables": variables, "secrets": {"esv-azure-client-secret": {
                                 "_id": "esv-azure-client-secret", "encoding": "generic", "useInPlaceholders": True,
                                 "description": "", "activeVersion": "2", "loadedVersion": "2", "loaded": True}}})
    result = import_tenant(snap, environment="dev")
    [imported] = [r for r in result.resources if isinstance(r, ConnectorResource)]
    assert (imported.spec.tenantId, imported.spec.clientId) == (exports.TENANT_ID, exports.CLIENT_ID)
    assert imported.spec.aic is not None and imported.spec.aic.esv is not None
    assert imported.spec.aic.esv.model_dump() == {"tenantId": "esv-azure-tenant-id",
                                                  "clientId": "esv-azure-client-id",
                                                  "clientSecret": "esv-azure-client-secret"}
    rendered = {o.id: o for o in render_resources(resource_set(result, load_environment(REPO, "dev").resources))
                .objects}
    assert rendered["provisioner.openicf/Azure"].body["configurationProperties"] == \
        connector["configurationProperties"]
    notes = _notes(result)
    assert ("provisioner.openicf/Azure", "/configurationProperties/tenant") not in notes
    assert "new version" in notes[("provisioner.openicf/Azure", SECRET_NOTE)]
    assert "description" in notes[("esv-azure-tenant-id", "/description")]
    assert result.esvs["esv-azure-tenant-id"] == "Connector.azure"
    assert {n.pointer for n in result.notes_of("Connector.azure")} >= {SECRET_NOTE, "/description"}


@pytest.mark.parametrize("change, pointer", [
    ({"correlationQuery": [{"linkQualifier": "default", "type": "text/javascript",
                            "source": "var q = {'_queryFilter': 'frIndexedString1 eq \"' + source._id + '\"'}; q"}]},
     "/correlationQuery"),
    ({"correlationScript": {"type": "text/javascript", "source": "[]"}}, "/correlationScript"),
    ({"sourceQuery": {"_queryFilter": "effectiveApplications[_id eq \"x\"]"}}, "/sourceQuery"),
    ({"validSource": {"type": "text/javascript", "source": "source.accountEnabled"}}, "/validSource"),
])
def test_a_mapping_is_not_adopted_when_it_would_widen(change: dict[str, Any], pointer: str) -> None:
    snapshot = exports.snapshot()
    mapping = {**snapshot.mappings["mapping/systemAzureUser_managedAlpha_user"], **change}
    snap = TenantSnapshot(**{**snapshot.__dict__, "mappings": {mapping["_id"]: mapping}})
    result = import_tenant(snap, environment="dev")
    assert not [r for r in result.resources if isinstance(r, MappingResource | ScheduleResource)]
    assert "not adopted" in _notes(result)[(mapping["_id"], pointer)]


def test_a_foreign_transform_is_dropped_with_a_note() -> None:
    snapshot = exports.snapshot()
    mapping = copy.deepcopy(dict(snapshot.mappings["mapping/systemAzureUser_managedAlpha_user"]))
    mapping["properties"][3]["transform"] = {"type": "text/javascript", "source": "source.givenName.substring(0, 8)"}
    snap = TenantSnapshot(**{**snapshot.__dict__, "mappings": {mapping["_id"]: mapping}})
    result = import_tenant(snap, environment="dev")
    [imported] = [r for r in result.resources if isinstance(r, MappingResource)]
    assert imported.spec.properties[0].transform is None
    assert "untransformed" in _notes(result)[(mapping["_id"], "/properties/3/transform")]


def test_read_snapshot_reads_what_import_needs_and_writes_nothing() -> None:
    tenant = exports.FakeTenant.of_exports()
    assert isinstance(tenant, TenantApi)
    snapshot = read_snapshot(tenant)
    assert set(snapshot.connectors) == {"provisioner.openicf/Azure"}  # not the LDAP connector
    assert set(snapshot.mappings) == {"mapping/systemAzureUser_managedAlpha_user",
                                      "mapping/managedAlpha_user_systemAzureUser"}
    assert set(snapshot.schedules) == {"schedule/Azure users full", "schedule/azureLiveSync"}
    assert set(snapshot.applications) == {f"managed/alpha_application/{exports.APP_ID}"}
    assert snapshot.users == {exports.OWNER_ID: "app-owner"}
    assert snapshot.tenant_url == "https://openam-acme.forgeblocks.com"
    assert import_tenant(snapshot, environment="dev").notes == import_tenant(exports.snapshot(),
                                                                             environment="dev").notes


def test_a_mapping_in_the_sync_document_is_adopted_with_notes_at_its_entry() -> None:
    snapshot = exports.snapshot()
    entry = {**copy.deepcopy(exports.MAPPING), "_id": "sync/systemAzureUser_managedAlpha_user", "syncAfter": []}
    sync = {"_id": "sync", "mappings": [*exports.SYNC["mappings"], entry]}
    snap = TenantSnapshot(**{**snapshot.__dict__, "mappings": {}, "sync": sync})
    result = import_tenant(snap, environment="dev")
    [mapping] = [r for r in result.resources if isinstance(r, MappingResource)]
    assert result.sources["Mapping.azure-users"] == "sync" and result.prefixes["Mapping.azure-users"] == "/mappings/1"
    notes = _notes(result)
    assert "move it out of sync" in notes[("sync", "/mappings/1")]
    assert ("sync", "/mappings/1/links") in notes and ("sync", "/mappings/1/syncAfter") in notes
    assert ("sync", "/mappings/1/_id") in notes  # frodo's sync/<name>; idmctl writes mapping/<name>
    assert not [n for n in result.notes if n.pointer.startswith("/mappings/0")]  # a foreign mapping: not ours
    assert {n.pointer for n in result.notes_of("Mapping.azure-users")} >= {"/mappings/1", "/mappings/1/links"}
    # The same name as mapping/<name> too: the per-mapping object is the one adopted.
    both = TenantSnapshot(**{**snapshot.__dict__, "sync": sync})
    result = import_tenant(both, environment="dev")
    assert result.sources["Mapping.azure-users"] == "mapping/systemAzureUser_managedAlpha_user"
    assert "same name" in _notes(result)[("sync", "/mappings/1")]


def test_a_missing_esv_and_a_conditional_property_are_noted() -> None:
    snapshot = exports.snapshot()
    connector = copy.deepcopy(dict(snapshot.connectors["provisioner.openicf/Azure"]))
    connector["configurationProperties"]["tenant"] = "&{esv.azure.tenant}"
    mapping = copy.deepcopy(dict(snapshot.mappings["mapping/systemAzureUser_managedAlpha_user"]))
    mapping["properties"][4]["condition"] = {"type": "text/javascript", "source": "source.mail != null"}
    snap = TenantSnapshot(**{**snapshot.__dict__, "connectors": {connector["_id"]: connector},
                             "mappings": {mapping["_id"]: mapping}})
    result = import_tenant(snap, environment="dev")
    [imported] = [r for r in result.resources if isinstance(r, ConnectorResource)]
    assert imported.spec.tenantId == "unknown"
    assert imported.spec.aic is not None and imported.spec.aic.esv is not None
    assert imported.spec.aic.esv.tenantId == "esv-azure-tenant"
    notes = _notes(result)
    assert "does not have" in notes[("provisioner.openicf/Azure", "/configurationProperties/tenant")]
    assert "condition" in notes[(mapping["_id"], "/properties/4/condition")]
