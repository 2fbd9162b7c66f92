"""A tenant shaped like the real exports quoted in ``reference/aic-rest-api.md``: the objects the AIC
``azure.ad`` template creates, as frodo-lib's recordings show them, for ``idmctl import`` tests.

- §3.1 ``provisioner.openicf/Azure``: plaintext tenant and client id, a ``$crypto`` client secret, the
  template's extra object types and User properties (``__roles__``, ``__servicePlanIds__``);
- §2.3 ``mapping/systemAzureUser_managedAlpha_user``: ASYNC/ONBOARD policies with the AIC-only
  SOURCE_TARGET_CONFLICT, ``links``, ``defaultSourceFields``, ``referencedObjectType`` properties and the
  console's correlation; an administrator then mapped the seed's four attributes in the console and set
  the seed's source filter (sourceQuery + sourceCondition, as the outbound template writes both);
- its outbound sibling ``mapping/managedAlpha_user_systemAzureUser`` (transform of the whole object,
  ``queuedSync``, INCORPORATE_CHANGES), and a ``sync`` document with a foreign mapping;
- §3.3 the ``Azure`` application (``uiConfig``, five mapping names, one owner);
- §5.4 schedules: the recorded recon schedule's shape (``timeZone: null``) running the Azure mapping, a
  customer's liveSync with a space in its id, ``recoverable`` and a cron taken from an ESV, and a schedule
  of another mapping.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from controller.platforms.aic import TenantSnapshot

APP_ID = "0f357b7e-6c54-4351-a094-43916877d7e5"
OWNER_ID = "3e1c2b6a-9d1f-4f0e-8c55-1a2b3c4d5e6f"
TENANT_ID = "711ffa9c-5972-4713-ace3-688c9732614a"
CLIENT_ID = "4b07adcc-329c-434c-aa83-49a14bef3c49"
CRYPTO_DATA = "Zm9vYmFyLWNpcGhlcnRleHQtb2YtdGhlLWNsaWVudC1zZWNyZXQ="


def _string(name: str, required: bool = False) -> dict[str, Any]:
    prop: dict[str, Any] = {"nativeName": name, "nativeType": "string", "type": "string"}
    if required:
        prop["required"] = True
    return prop


CONNECTOR: dict[str, Any] = {
    "_id": "provisioner.openicf/Azure",
    "configurationProperties": {
        "clientId": CLIENT_ID,
        "clientSecret": {"$crypto": {"type": "x-simple-encryption", "value": {
            "cipher": "AES/CBC/PKCS5Padding", "data": CRYPTO_DATA, "iv": "b2ZmaWNpYWxseS1pdg==", "keySize": 16,
            "mac": "bWFjLW9mLXRoZS1zZWNyZXQ=", "purpose": "idm.config.encryption", "salt": "c2FsdA==",
            "stableId": "openidm-sym-default"}}},
        "httpProxyHost": None, "httpProxyPassword": None, "httpProxyPort": None, "httpProxyUsername": None,
        "licenseCacheExpiryTime": 60, "performHardDelete": True, "readRateLimit": None,
        "tenant": TENANT_ID, "writeRateLimit": None},
    "connectorRef": {
        "bundleName": "org.forgerock.openicf.connectors.msgraphapi-connector", "bundleVersion": "1.5.20.21",
        "connectorName": "org.forgerock.openicf.connectors.msgraphapi.MSGraphAPIConnector",
        "displayName": "MSGraphAPI Connector", "systemType": "provisioner.openicf"},
    "enabled": True,
    "objectTypes": {
        "User": {"$schema": "http://json-schema.org/draft-03/schema", "id": "__ACCOUNT__", "nativeType": "__ACCOUNT__",
                 "type": "object", "properties": {
                     "__PASSWORD__": {"flags": ["NOT_UPDATEABLE", "NOT_READABLE", "NOT_RETURNED_BY_DEFAULT"],
                                      "nativeName": "__PASSWORD__", "nativeType": "JAVA_TYPE_GUARDEDSTRING",
                                      "required": True, "type": "string"},
                     "__roles__": {"flags": ["NOT_RETURNED_BY_DEFAULT"], "items": {"nativeType": "string",
                                   "type": "string"}, "nativeName": "__roles__", "nativeType": "string",
                                   "type": "array"},
                     "__servicePlanIds__": {"flags": ["NOT_RETURNED_BY_DEFAULT"], "items": {
                         "nativeType": "string", "type": "string"}, "nativeName": "__servicePlanIds__",
                         "nativeType": "string", "type": "array"},
                     "accountEnabled": {"nativeName": "accountEnabled", "nativeType": "boolean", "required": True,
                                        "type": "boolean"},
                     "displayName": _string("displayName", True), "givenName": _string("givenName"),
                     "mail": _string("mail", True), "mailNickname": _string("mailNickname", True),
                     "memberOf": {"flags": ["NOT_RETURNED_BY_DEFAULT"], "nativeName": "memberOf",
                                  "nativeType": "object", "type": "array"},
                     "surname": _string("surname"), "userPrincipalName": _string("userPrincipalName", True),
                     **{n: _string(n) for n in (
                         "city", "companyName", "country", "department", "jobTitle", "manager", "mobilePhone",
                         "onPremisesImmutableId", "postalCode", "preferredLanguage", "state", "streetAddress",
                         "usageLocation", "userType")},
                     "otherMails": {"items": {"nativeType": "string", "type": "string"}, "nativeName": "otherMails",
                                    "nativeType": "string", "type": "array"},
                     "proxyAddresses": {"items": {"nativeType": "string", "type": "string"},
                                        "nativeName": "proxyAddresses", "nativeType": "string", "type": "array"}}},
        "__GROUP__": {"$schema": "http://json-schema.org/draft-03/schema", "id": "__GROUP__", "nativeType": "__GROUP__",
                      "type": "object", "properties": {"__NAME__": _string("__NAME__"),
                                                       "displayName": _string("displayName", True)}},
    },
    "operationTimeout": dict.fromkeys(
        ["AUTHENTICATE", "CREATE", "DELETE", "GET", "RESOLVEUSERNAME", "SCHEMA", "SCRIPT_ON_CONNECTOR",
         "SCRIPT_ON_RESOURCE", "SEARCH", "SYNC", "TEST", "UPDATE", "VALIDATE"], -1),
    "poolConfigOption": {"maxIdle": 10, "maxObjects": 10, "maxWait": 150000, "minEvictableIdleTimeMillis": 120000,
                         "minIdle": 1},
    "resultsHandlerConfig": {"enableAttributesToGetSearchResultsHandler": True, "enableCaseInsensitiveFilter": False,
                             "enableFilteredResultsHandler": False, "enableNormalizingResultsHandler": False},
}

_TEMPLATE_POLICIES = [
    {"action": "ASYNC", "situation": s} for s in (
        "AMBIGUOUS", "SOURCE_MISSING", "MISSING", "FOUND_ALREADY_LINKED", "UNQUALIFIED", "UNASSIGNED", "LINK_ONLY",
        "TARGET_IGNORED", "SOURCE_IGNORED", "ALL_GONE")
] + [{"action": "UPDATE", "situation": "CONFIRMED"}, {"action": "ONBOARD", "situation": "FOUND"},
     {"action": "ASYNC", "situation": "ABSENT"}, {"action": "ASYNC", "situation": "SOURCE_TARGET_CONFLICT"}]

MAPPING: dict[str, Any] = {
    "_id": "mapping/systemAzureUser_managedAlpha_user",
    "consentRequired": False,
    "correlationQuery": [{"linkQualifier": "default",
                          "source": "var qry = {'_queryFilter': 'mail eq \"' + source.mail + '\"'}; qry",
                          "type": "text/javascript"}],
    "defaultSourceFields": ["*", "memberOf", "__roles__", "__servicePlanIds__"],
    "defaultTargetFields": ["*", "assignments"],
    "displayName": "systemAzureUser_managedAlpha_user", "icon": None,
    "links": "managedAlpha_user_systemAzureUser",
    "name": "systemAzureUser_managedAlpha_user",
    "policies": _TEMPLATE_POLICIES,
    "properties": [
        {"referencedObjectType": "__GROUP__", "source": "memberOf", "target": "assignments"},
        {"referencedObjectType": "directoryRole", "source": "__roles__", "target": "assignments"},
        {"referencedObjectType": "servicePlan", "source": "__servicePlanIds__", "target": "assignments"},
        {"source": "givenName", "target": "givenName"}, {"source": "mail", "target": "mail"},
        {"source": "surname", "target": "sn"}, {"source": "userPrincipalName", "target": "userName"}],
    "reconSourceQueryPageSize": 999, "reconSourceQueryPaging": True,
    "runTargetPhase": False,
    "source": "system/Azure/User", "sourceQueryFullEntry": True,
    "sourceCondition": "/source/mail eq \"scarter@example.com\"",
    "sourceQuery": {"_queryFilter": "mail eq \"scarter@example.com\""},
    "target": "managed/alpha_user",
}

OUTBOUND: dict[str, Any] = {
    "_id": "mapping/managedAlpha_user_systemAzureUser", "name": "managedAlpha_user_systemAzureUser",
    "source": "managed/alpha_user", "target": "system/Azure/User", "consentRequired": False,
    "properties": [{"source": "sn", "target": "surname"},
                   {"source": "", "target": "displayName",
                    "transform": {"source": "source.givenName+\" \"+source.sn", "type": "text/javascript"}}],
    "policies": [{"action": "INCORPORATE_CHANGES", "situation": "TARGET_CHANGED"}],
    "queuedSync": {"enabled": True, "maxRetries": 0, "pollingInterval": 10000},
    "sourceCondition": f"/source/effectiveApplications[_id eq \"{APP_ID}\"]",
    "sourceQuery": {"_queryFilter": f"effectiveApplications[_id eq \"{APP_ID}\"]"},
}

SYNC: dict[str, Any] = {"_id": "sync", "mappings": [
    {"_id": "sync/managedUser_managedGroup", "name": "managedUser_managedGroup", "source": "managed/user",
     "target": "managed/group", "properties": [{"source": "userName", "target": "name"}], "policies": [],
     "syncAfter": []}]}

APPLICATION: dict[str, Any] = {
    "_id": APP_ID, "_rev": "b2f3a1c4-0000-0000-0000-000000000042-1234", "authoritative": False,
    "connectorId": "Azure", "description": "Azure", "icon": "",
    "mappingNames": ["systemAzureUser_managedAlpha_user", "managedAlpha_user_systemAzureUser",
                     "systemAzure__group___managedAlpha_assignment", "systemAzureDirectoryrole_managedAlpha_assignment",
                     "systemAzureServiceplan_managedAlpha_assignment"],
    "name": "Azure", "templateName": "azure.ad", "templateVersion": "3.3",
    "owners": [{"_ref": f"managed/alpha_user/{OWNER_ID}", "_refResourceCollection": "managed/alpha_user",
                "_refResourceId": OWNER_ID, "_refProperties": {"_id": "e1a2b3c4", "_rev": "1"}}],
    "uiConfig": {"objectTypes": {"User": {"properties": {
        "mail": {"displayName": "Mail", "isDisplay": True, "isMail": True, "order": 1, "userSpecific": True},
        "userPrincipalName": {"displayName": "User Principal Name", "isUsername": True, "order": 25,
                              "userSpecific": True}}}}},
}

SCHEDULE_RECON: dict[str, Any] = {
    "_id": "schedule/Azure users full", "concurrentExecution": False, "enabled": False, "endTime": None,
    "invokeContext": {"action": "reconcile", "mapping": "systemAzureUser_managedAlpha_user"},
    "invokeLogLevel": "info", "invokeService": "sync", "isCron": True, "misfirePolicy": "fireAndProceed",
    "persisted": True, "recoverable": True, "schedule": "0 0 * * * ?", "startTime": None, "timeZone": None,
    "type": "cron"}
SCHEDULE_LIVESYNC: dict[str, Any] = {
    "_id": "schedule/azureLiveSync", "concurrentExecution": False, "enabled": True, "endTime": None,
    "invokeContext": {"action": "liveSync", "source": "system/Azure/User"}, "invokeLogLevel": "info",
    "invokeService": "provisioner", "isCron": True, "misfirePolicy": "fireAndProceed", "persisted": True,
    "schedule": "&{esv.1dc20f579c.reconscheduleuserscronexp}", "startTime": None, "timeZone": "UTC", "type": "cron"}
SCHEDULE_OTHER: dict[str, Any] = {
    "_id": "schedule/testScheduleJob", "concurrentExecution": False, "enabled": False, "endTime": None,
    "invokeContext": {"action": "reconcile", "mapping": "managedUser_managedGroup"}, "invokeLogLevel": "info",
    "invokeService": "sync", "isCron": True, "misfirePolicy": "fireAndProceed", "persisted": True,
    "schedule": "0 0 * * * ?", "startTime": None, "timeZone": None, "type": "cron"}

OWNER = {"_id": OWNER_ID, "_rev": "7", "userName": "app-owner", "givenName": "App", "sn": "Owner",
         "mail": "app-owner@example.com"}


def snapshot() -> TenantSnapshot:
    """The tenant above as ``read_snapshot`` returns it (fresh copies: tests may change them)."""
    return TenantSnapshot(
        connectors={CONNECTOR["_id"]: copy.deepcopy(CONNECTOR)},
        mappings={m["_id"]: copy.deepcopy(m) for m in (MAPPING, OUTBOUND)},
        sync=copy.deepcopy(SYNC),
        schedules={s["_id"]: copy.deepcopy(s) for s in (SCHEDULE_RECON, SCHEDULE_LIVESYNC)},
        applications={f"managed/alpha_application/{APP_ID}": copy.deepcopy(APPLICATION)},
        users={OWNER_ID: "app-owner"}, tenant_url="https://openam-acme.forgeblocks.com")


class FakeTenant:
    """A tenant in memory, dict-backed, answering the reads ``TenantApi`` defines (writes are refused:
    importing never writes to the tenant)."""

    def __init__(self, config: dict[str, dict[str, Any]], managed: dict[str, dict[str, Any]] | None = None,
                 variables: dict[str, dict[str, Any]] | None = None, secrets: dict[str, dict[str, Any]] | None = None,
                 *, tenant_url: str = "https://openam-acme.forgeblocks.com", realm: str = "alpha") -> None:
        self.tenant_url = tenant_url
        self.realm = realm
        self.config = config  # config id -> body
        self.managed = managed or {}  # "alpha_user/<id>" -> object
        self.variables = variables or {}
        self.secrets = secrets or {}
        self.reads: list[str] = []
        self.closed = False

    @classmethod
    def of_exports(cls) -> FakeTenant:
        config = {b["_id"]: copy.deepcopy(b) for b in (CONNECTOR, MAPPING, OUTBOUND, SYNC, SCHEDULE_RECON,
                                                        SCHEDULE_LIVESYNC, SCHEDULE_OTHER)}
        config["provisioner.openicf/ldap"] = {"_id": "provisioner.openicf/ldap", "connectorRef": {
            "connectorName": "org.identityconnectors.ldap.LdapConnector"}, "configurationProperties": {}}
        managed = {f"alpha_application/{APP_ID}": copy.deepcopy(APPLICATION),
                   f"alpha_application/{'1' * 8}-1111-4111-8111-{'1' * 12}": {
                       "_id": f"{'1' * 8}-1111-4111-8111-{'1' * 12}", "name": "testLDAP", "connectorId": "ldap",
                       "authoritative": True, "templateName": "ldap", "templateVersion": "2.1"},
                   f"alpha_user/{OWNER_ID}": copy.deepcopy(OWNER)}
        return cls(config, managed)

    def read_config(self, config_id: str) -> dict[str, Any] | None:
        self.reads.append(f"config/{config_id}")
        body = self.config.get(config_id)
        return copy.deepcopy(body) if body is not None else None

    def query_config(self, id_prefix: str) -> list[dict[str, Any]]:
        self.reads.append(f"config?{id_prefix}")
        return [copy.deepcopy(b) for i, b in sorted(self.config.items()) if i.startswith(id_prefix)]

    def read_variable(self, esv_id: str) -> dict[str, Any] | None:
        self.reads.append(f"variables/{esv_id}")
        return copy.deepcopy(self.variables.get(esv_id))

    def read_secret(self, esv_id: str) -> dict[str, Any] | None:
        self.reads.append(f"secrets/{esv_id}")
        return copy.deepcopy(self.secrets.get(esv_id))

    def read_managed(self, path: str) -> dict[str, Any] | None:
        self.reads.append(f"managed/{path}")
        return copy.deepcopy(self.managed.get(path))

    def query_managed(self, object_type: str, query_filter: str, *, fields: Any = (),
                      page_size: int = 100, sort_keys: Any = ()) -> Any:
        # The two queries idmctl sends: everything, and one user by userName (an application's owner).
        match = re.fullmatch(r'userName eq "(.*)"', query_filter)
        assert query_filter == "true" or match, query_filter
        self.reads.append(f"managed/{object_type}?{query_filter}")
        for path, body in sorted(self.managed.items()):
            if path.startswith(f"{object_type}/") and (match is None or body.get("userName") == match.group(1)):
                yield copy.deepcopy(body)

    def close(self) -> None:
        self.closed = True

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("import must not write to the tenant")

    put_config = delete_config = put_variable = delete_variable = create_secret = _refuse
    add_secret_version = delete_secret = restart = put_managed = delete_managed = _refuse
    test_connector = query_system = _refuse
    start_recon = read_recon = list_recons = cancel_recon = recon_entries = live_sync = read_repo = _refuse
    list_links = list_jobs = trigger_job = _refuse

    def restart_status(self) -> str:
        return "ready"
