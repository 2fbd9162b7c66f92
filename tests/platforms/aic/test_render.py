"""Rendering to AIC's native objects, checked field by field against the real exports quoted in
``reference/aic-rest-api.md`` (the section is named at each constant)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from controller.config import ResourceSet, load_environment, validate_environment
from controller.config.models import MappingResource, Situation
from controller.filters import compile_filter, parse_filter
from controller.platforms.aic import (
    CONNECTOR_REF,
    application_id,
    esv_placeholder,
    query_filter,
    render_resources,
    resolve_owners,
)
from controller.recon import DEFAULT_ACTIONS, compile_transform

REPO = Path(__file__).resolve().parents[3]

# §3.1: GET /openidm/config/provisioner.openicf/Azure (frodo-lib IdmConfigOps recording, entry 47).
EXPORT_CONNECTOR_REF = {
    "bundleName": "org.forgerock.openicf.connectors.msgraphapi-connector", "bundleVersion": "1.5.20.21",
    "connectorName": "org.forgerock.openicf.connectors.msgraphapi.MSGraphAPIConnector",
    "displayName": "MSGraphAPI Connector", "systemType": "provisioner.openicf"}
EXPORT_CONNECTOR_KEYS = {"_id", "configurationProperties", "connectorRef", "enabled", "objectTypes",
                         "operationTimeout", "poolConfigOption", "resultsHandlerConfig"}
EXPORT_CONFIGURATION_KEYS = {"clientId", "clientSecret", "httpProxyHost", "httpProxyPassword", "httpProxyPort",
                             "httpProxyUsername", "licenseCacheExpiryTime", "performHardDelete", "readRateLimit",
                             "tenant", "writeRateLimit"}
EXPORT_OPERATION_TIMEOUT = dict.fromkeys(
    ["AUTHENTICATE", "CREATE", "DELETE", "GET", "RESOLVEUSERNAME", "SCHEMA", "SCRIPT_ON_CONNECTOR",
     "SCRIPT_ON_RESOURCE", "SEARCH", "SYNC", "TEST", "UPDATE", "VALIDATE"], -1)
EXPORT_POOL = {"maxIdle": 10, "maxObjects": 10, "maxWait": 150000, "minEvictableIdleTimeMillis": 120000, "minIdle": 1}
EXPORT_RESULTS_HANDLER = {"enableAttributesToGetSearchResultsHandler": True, "enableCaseInsensitiveFilter": False,
                          "enableFilteredResultsHandler": False, "enableNormalizingResultsHandler": False}
# §2.3: GET /openidm/config/mapping/systemAzureUser_managedAlpha_user (entry 41): its keys (less the
# template's group/role fields: links, defaultSourceFields, defaultTargetFields) and policy order.
EXPORT_MAPPING_KEYS = {"_id", "consentRequired", "correlationQuery", "displayName", "icon", "name", "policies",
                       "properties", "reconSourceQueryPageSize", "reconSourceQueryPaging", "runTargetPhase",
                       "source", "sourceQueryFullEntry", "target"}
EXPORT_POLICY_ORDER = ["AMBIGUOUS", "SOURCE_MISSING", "MISSING", "FOUND_ALREADY_LINKED", "UNQUALIFIED", "UNASSIGNED",
                       "LINK_ONLY", "TARGET_IGNORED", "SOURCE_IGNORED", "ALL_GONE", "CONFIRMED", "FOUND", "ABSENT",
                       "SOURCE_TARGET_CONFLICT"]
# Every field name of the mapping field reference (§2.3).
MAPPING_FIELDS = EXPORT_MAPPING_KEYS | {
    "links", "linkQualifiers", "defaultSourceFields", "defaultTargetFields", "correlationScript", "sourceQuery",
    "targetQuery", "sourceCondition", "validSource", "validTarget", "queuedSync", "optimizeAssignmentSync",
    "enableSync", "syncAfter"}
# §3.3: the Azure application of the Microsoft template (frodo-cli export).
EXPORT_APPLICATION_KEYS = {"_id", "authoritative", "connectorId", "description", "icon", "mappingNames", "name",
                           "templateName", "templateVersion"}
# §5.4: schedule/testScheduleJob (frodo-lib ConfigOps recording).
EXPORT_SCHEDULE_KEYS = {"_id", "concurrentExecution", "enabled", "endTime", "invokeContext", "invokeLogLevel",
                        "invokeService", "isCron", "misfirePolicy", "persisted", "schedule", "startTime", "timeZone",
                        "type"}
ESV_ID = re.compile(r"^esv-[a-z0-9_-]{1,124}$")  # §4.1 (GOC path-param pattern)


def _rendered(env: str = "dev", realm: str = "alpha") -> dict[str, dict[str, Any]]:
    rendering = render_resources(load_environment(REPO, env).resources, realm)
    return {obj.id: obj.body for obj in rendering.objects}


def _with(resources: ResourceSet, **mapping_changes: Any) -> ResourceSet:
    mapping = resources.mappings["entra-users"]
    data = mapping.model_dump(mode="json", by_alias=True)
    data["spec"].update(mapping_changes)
    changed = MappingResource.model_validate(data)
    return ResourceSet(environment=resources.environment, connectors=resources.connectors,
                       applications=resources.applications, mappings={"entra-users": changed},
                       schedules=resources.schedules, root=resources.root)


def _resources(env: str = "dev") -> ResourceSet:
    return load_environment(REPO, env).resources


# --- connector and ESVs --------------------------------------------------------------------------------


def test_connector_matches_the_export() -> None:
    body = _rendered()["provisioner.openicf/Entra"]
    assert body["connectorRef"] == EXPORT_CONNECTOR_REF == dict(CONNECTOR_REF)
    assert set(body) == EXPORT_CONNECTOR_KEYS
    assert set(body["configurationProperties"]) == EXPORT_CONFIGURATION_KEYS
    assert body["operationTimeout"] == EXPORT_OPERATION_TIMEOUT
    assert body["poolConfigOption"] == EXPORT_POOL
    assert body["resultsHandlerConfig"] == EXPORT_RESULTS_HANDLER
    assert body["enabled"] is True
    props = body["configurationProperties"]
    assert props["licenseCacheExpiryTime"] == 60 and props["performHardDelete"] is True
    user = body["objectTypes"]["User"]
    assert user["id"] == "__ACCOUNT__" and user["nativeType"] == "__ACCOUNT__"
    assert user["properties"]["userPrincipalName"] == {"nativeName": "userPrincipalName", "nativeType": "string",
                                                       "type": "string", "required": True}
    for prop in _resources().mappings["entra-users"].spec.properties:  # mappings use only declared properties
        assert prop.source in user["properties"]


def test_credentials_are_esv_placeholders_with_valid_ids() -> None:
    rendered = render_resources(_resources())
    props = next(o for o in rendered.objects if o.kind == "connector").body["configurationProperties"]
    esvs = {o.id: o for o in rendered.objects if o.kind in ("variable", "secret")}
    assert set(esvs) == {"esv-idmctl-entra-tenant-id", "esv-idmctl-entra-client-id", "esv-idmctl-entra-client-secret"}
    assert props["tenant"] == "&{esv.idmctl.entra.tenant.id}" == esv_placeholder("esv-idmctl-entra-tenant-id")
    assert props["clientId"] == "&{esv.idmctl.entra.client.id}"
    assert props["clientSecret"] == "&{esv.idmctl.entra.client.secret}"
    for esv in esvs.values():
        assert ESV_ID.match(esv.id) and esv.body["_id"] == esv.id
        assert not {"value", "valueBase64"} & set(esv.body)
    assert esvs["esv-idmctl-entra-tenant-id"].body["expressionType"] == "string"
    assert esvs["esv-idmctl-entra-tenant-id"].value == "f7ff6108-c26f-48dd-ae9e-9743eefbd11f"
    secret = esvs["esv-idmctl-entra-client-secret"]
    assert secret.file == "esv/secrets/esv-idmctl-entra-client-secret.json" and secret.secret == "entra_client_secret"
    assert secret.body["useInPlaceholders"] is True and secret.body["encoding"] == "generic"
    # The same connector object in every environment: only the ESV values differ (promotion).
    assert _rendered("prod")["provisioner.openicf/Entra"] == _rendered("dev")["provisioner.openicf/Entra"]


def test_a_sovereign_cloud_endpoint_is_a_note_not_a_property() -> None:
    rendering = render_resources(_resources("demo"))
    assert any("authorityHost https://127.0.0.1:47443 is not rendered" in n for n in rendering.notes)
    assert render_resources(_resources("dev")).notes == ()


# --- mapping -------------------------------------------------------------------------------------------


def test_mapping_name_and_shape_follow_the_console() -> None:
    body = _rendered()["mapping/systemEntraUser_managedAlpha_user"]
    assert EXPORT_MAPPING_KEYS <= set(body) <= MAPPING_FIELDS
    assert body["name"] == body["displayName"] == "systemEntraUser_managedAlpha_user"
    assert body["source"] == "system/Entra/User" and body["target"] == "managed/alpha_user"
    assert body["consentRequired"] is False and body["icon"] is None and body["sourceQueryFullEntry"] is True
    assert body["reconSourceQueryPaging"] is True and body["reconSourceQueryPageSize"] == 999
    assert body["properties"] == [  # §2.3, the seed mapping as idmctl should render it
        {"source": "givenName", "target": "givenName"}, {"source": "mail", "target": "mail"},
        {"source": "surname", "target": "sn"}, {"source": "userPrincipalName", "target": "userName"}]
    assert body["sourceQuery"] == {"_queryFilter": 'mail eq "scarter@example.com"'}
    assert body["sourceCondition"] == '/source/mail eq "scarter@example.com"'
    assert body["runTargetPhase"] is False
    prod = _rendered("prod")["mapping/systemEntraUser_managedAlpha_user"]
    assert "sourceQuery" not in prod and "sourceCondition" not in prod


def test_mapping_names_derive_as_the_real_export_names() -> None:
    resources = _resources()
    connector = resources.connectors["entra"].model_copy(
        update={"metadata": resources.connectors["entra"].metadata.model_copy(update={"name": "azure"})})
    mapping = resources.mappings["entra-users"]
    mapping = mapping.model_copy(update={"spec": mapping.spec.model_copy(
        update={"source": mapping.spec.source.model_copy(update={"connector": "azure"})})})
    azure = ResourceSet(environment=resources.environment, connectors={"azure": connector},
                        mappings={"entra-users": mapping})
    ids = {o.id for o in render_resources(azure).objects}
    assert {"provisioner.openicf/Azure", "mapping/systemAzureUser_managedAlpha_user"} <= ids


def test_policies_list_every_situation_with_the_defaults_explicit() -> None:
    policies = _rendered()["mapping/systemEntraUser_managedAlpha_user"]["policies"]
    assert all(set(p) == {"action", "situation"} for p in policies)
    assert [p["situation"] for p in policies] == [s for s in EXPORT_POLICY_ORDER if s in set(Situation)]
    assert {p["situation"] for p in policies} == {str(s) for s in Situation}
    actions = {p["situation"]: p["action"] for p in policies}
    assert actions["LINK_ONLY"] == "UNLINK"  # the seed's one rule
    assert {k: v for k, v in actions.items() if k != "LINK_ONLY"} == {
        str(s): str(a) for s, a in DEFAULT_ACTIONS.items() if s is not Situation.LINK_ONLY}


def test_correlation_is_a_correlation_query_in_the_console_form() -> None:
    [query] = _rendered()["mapping/systemEntraUser_managedAlpha_user"]["correlationQuery"]
    assert set(query) == {"linkQualifier", "source", "type"}
    assert query["linkQualifier"] == "default" and query["type"] == "text/javascript"
    assert "var qry = {'_queryFilter': " in query["source"] and query["source"].endswith("; qry")
    assert "source.userPrincipalName" in query["source"] and '"userName eq "' in query["source"]


def test_target_scope_and_valid_source() -> None:
    body = {o.id: o.body for o in render_resources(_with(
        _resources(), targetScope="all", validSource="accountEnabled eq true")).objects}
    mapping = body["mapping/systemEntraUser_managedAlpha_user"]
    assert mapping["runTargetPhase"] is True
    assert mapping["validSource"]["type"] == "text/javascript"
    # the connector declares what the filter reads
    assert "accountEnabled" in body["provisioner.openicf/Entra"]["objectTypes"]["User"]["properties"]


def test_query_filters_use_idm_syntax() -> None:
    assert query_filter(parse_filter('not (mail pr) and (id eq "x" or mail eq null)')) == \
        '!(mail pr) and (_id eq "x" or !(mail pr))'
    assert query_filter(parse_filter('department ne "HR"'), "/source/") == '/source/department ne "HR"'


# --- application and schedule -------------------------------------------------------------------------


def test_application_fields() -> None:
    resources = _resources()
    app = resources.applications["microsoft-entra-id"]
    app_id = application_id(app, "dev")
    body = _rendered()[f"managed/alpha_application/{app_id}"]
    assert EXPORT_APPLICATION_KEYS | {"owners"} == set(body)
    assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", body["_id"])
    assert body["_id"] == app_id == application_id(app, "dev") != application_id(app, "prod")
    assert body["authoritative"] is True and body["templateName"] == "azure.ad"
    assert body["connectorId"] == "Entra" and body["mappingNames"] == ["systemEntraUser_managedAlpha_user"]
    assert body["name"] == "Microsoft Entra ID"
    assert body["owners"] == [{"_ref": "managed/alpha_user/{userName=app-owner}", "_refProperties": {}}]
    resolved = resolve_owners(body, {"app-owner": "146c2230-aaaa"})
    assert resolved["owners"] == [{"_ref": "managed/alpha_user/146c2230-aaaa", "_refProperties": {}}]
    with pytest.raises(KeyError):
        resolve_owners(body, {})
    bravo = _rendered(realm="bravo")[f"managed/bravo_application/{app_id}"]
    assert bravo["owners"][0]["_ref"] == "managed/bravo_user/{userName=app-owner}"


def test_incremental_schedule_is_a_livesync() -> None:
    body = _rendered()["schedule/entra-incremental"]
    assert set(body) == EXPORT_SCHEDULE_KEYS
    assert body["invokeService"] == "provisioner"
    assert body["invokeContext"] == {"action": "liveSync", "source": "system/Entra/User"}
    assert body["schedule"] == "0 0/15 * * * ?" and body["type"] == "cron" and body["timeZone"] == "UTC"
    assert body["enabled"] is True and body["persisted"] is True and body["misfirePolicy"] == "fireAndProceed"


def test_full_schedule_is_a_recon(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "environments" / "dev", root / "environments" / "dev")
    path = root / "environments" / "dev" / "schedule.yaml"
    text = path.read_text().replace("mode: incremental", "mode: full").replace("enabled: true", "enabled: false")
    pinned = "misfirePolicy: doNothing\n  aic: {name: Entra full}"
    path.write_text(text.replace("misfirePolicy: fireAndProceed", pinned))
    body = {o.id: o.body for o in render_resources(load_environment(root, "dev").resources).objects}
    schedule = body["schedule/Entra full"]
    assert schedule["invokeService"] == "sync"
    assert schedule["invokeContext"] == {"action": "reconcile", "mapping": "systemEntraUser_managedAlpha_user"}
    assert schedule["enabled"] is False and schedule["misfirePolicy"] == "doNothing"


# --- pinned names and validate --------------------------------------------------------------------------


@pytest.mark.parametrize(("file", "old", "new", "pointer"), [
    ("connector.yaml", "  pageSize: 999", "  pageSize: 999\n  aic: {name: Entra/Prod}", "/spec/aic/name"),
    ("mapping.yaml", "  safety:", "  aic: {name: 'entra users'}\n  safety:", "/spec/aic/name"),
    ("schedule.yaml", "  enabled: true", "  enabled: true\n  aic: {name: 'a/b'}", "/spec/aic/name"),
    ("application.yaml", "  owners:", "  aic: {id: NOT-A-UUID}\n  owners:", "/spec/aic/id"),
])
def test_validate_rejects_names_aic_would_reject(tmp_path: Path, file: str, old: str, new: str, pointer: str) -> None:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "environments" / "dev", root / "environments" / "dev")
    path = root / "environments" / "dev" / file
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    report = validate_environment(root, "dev")
    errors = [d for d in report.diagnostics if d.severity == "error"]
    assert [d.pointer for d in errors] == [pointer], [d.format() for d in report.diagnostics]
    assert "AIC would reject" in errors[0].message and errors[0].hint


def test_pinned_names_are_used(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "environments" / "dev", root / "environments" / "dev")
    d = root / "environments" / "dev"
    (d / "connector.yaml").write_text((d / "connector.yaml").read_text() + "  aic: {name: Azure}\n")
    (d / "mapping.yaml").write_text((d / "mapping.yaml").read_text() + "  aic: {name: entraToAlpha}\n")
    app_id = "0f357b7e-6c54-4351-a094-43916877d7e5"
    (d / "application.yaml").write_text((d / "application.yaml").read_text()
                                        + f"  aic: {{name: Azure, id: {app_id}}}\n")
    rendering = render_resources(load_environment(root, "dev").resources)
    body = {o.id: o.body for o in rendering.objects}
    assert body["mapping/entraToAlpha"]["source"] == "system/Azure/User"
    assert body[f"managed/alpha_application/{app_id}"]["name"] == "Azure"
    assert body[f"managed/alpha_application/{app_id}"]["mappingNames"] == ["entraToAlpha"]
    assert body["provisioner.openicf/Azure"]["configurationProperties"]["clientSecret"] == \
        "&{esv.idmctl.azure.client.secret}"
    # an unset pin stays out of the canonical form: adding the field changed no applied state
    assert "aic" not in _resources().canonical()["Mapping.entra-users"]["spec"]


# --- the scripts do what idmctl's engine does (when node is here to run them) ----------------------------

NODE = shutil.which("node")


def _run_js(script: str, source: Any) -> Any:
    assert NODE is not None
    program = (f"var source = {json.dumps(source)}; "
               f"var r = require('vm').runInNewContext({json.dumps(script)}, {{source: source}}); "
               "process.stdout.write(JSON.stringify(r === undefined ? null : r));")
    proc = subprocess.run([NODE, "-e", program], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(proc.stdout)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_scripts_agree_with_the_engine() -> None:
    transform = ["trim", {"map": {"true": "active", "false": "inactive"}, "default": "unknown"}]
    resources = _with(_resources(), validSource='department sw "eng" and not (mail eq null)', properties=[
        {"source": "userPrincipalName", "target": "userName", "transform": ["trim", "lower"]},
        {"source": "accountEnabled", "target": "accountStatus", "transform": transform},
        {"source": "givenName", "target": "givenName"}, {"source": "mail", "target": "mail"},
        {"source": "surname", "target": "sn"}])
    mapping = next(o.body for o in render_resources(resources).objects if o.kind == "mapping")
    props = {p["target"]: p for p in mapping["properties"]}
    engine = {p.target: compile_transform(p.transform) for p in resources.mappings["entra-users"].spec.properties}
    lower, status = engine["userName"], engine["accountStatus"]
    assert lower is not None and status is not None
    for value in (" A@B.com ", None):
        assert _run_js(props["userName"]["transform"]["source"], value) == lower(value)
    for flag in (True, False, None):
        assert _run_js(props["accountStatus"]["transform"]["source"], flag) == status(flag)
    valid = compile_filter(parse_filter('department sw "eng" and not (mail eq null)'))
    for obj in ({"department": "Engineering", "mail": "x"}, {"department": "eng"}, {"department": "HR", "mail": "x"}):
        assert _run_js(mapping["validSource"]["source"], obj) is valid(obj)
    query = _run_js(mapping["correlationQuery"][0]["source"], {"userPrincipalName": ' A"b@c.com'})
    assert query == {"_queryFilter": 'userName eq "a\\"b@c.com"'}
    assert _run_js(mapping["correlationQuery"][0]["source"], {}) == {"_queryFilter": "false"}
