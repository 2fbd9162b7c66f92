"""Rendering idmctl resources to PingOne Advanced Identity Cloud's native objects: one function per kind.

Pure: typed resources in, JSON objects out, each with its native id; no network, no files, no clock,
and no secret value (secrets become ``&{esv.…}`` placeholders). Every shape follows a real exported
object quoted in ``reference/aic-rest-api.md`` (the section is named at each function).

Native names (§2.2, §2.3, §3.1), unless a resource pins its own in ``spec.aic``:

- connector: the metadata name's ``-``-separated parts, each capitalised (``entra`` -> ``Entra``), so its
  system path is ``system/Entra/User``, as in the seed rendering of §3.1;
- mapping: the console's ``system<Conn><ObjectType>_managed<Realm>_<obj>``, built as IDM builds it from
  the source and target paths: the first segment, then each further segment ``str.capitalize()``-d
  (``system/Azure/User`` -> ``systemAzureUser``, ``managed/alpha_user`` -> ``managedAlpha_user``,
  ``__GROUP__`` -> ``__group__``, exactly the names of the real export in §2.2);
- schedule: the metadata name; application: ``spec.displayName`` and a UUID derived from the
  environment and metadata name (stable across renders, §3.3).

ESVs (§4.1, §4.2): ``esv-idmctl-<connector>-{tenant-id,client-id,client-secret}`` with ``<connector>`` the
native connector name lower-cased, referenced as ``&{esv.idmctl.<connector>.tenant.id}`` etc. The names
do not include the environment: each AIC environment is its own tenant with its own ESV values, so the
same connector object is promoted unchanged from dev to prod (only the ESV values differ), and the
``idmctl`` segment marks the ESVs idmctl owns. A connector may pin others in ``spec.aic.esv`` (a tenant
set up by frodo or fr-config-manager, adopted with ``idmctl import``: ``&{esv.azure.client.id}``).
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from controller.config import ResourceSet
from controller.config.models import (
    AIC_APPLICATION_ID_PATTERN,
    AIC_CONNECTOR_NAME_PATTERN,
    AIC_MAPPING_NAME_PATTERN,
    AIC_SCHEDULE_NAME_PATTERN,
    ApplicationResource,
    ConnectorResource,
    MappingResource,
    MapTransform,
    PropertyMapping,
    ScheduleResource,
    Situation,
    Transform,
)
from controller.diagnostics import Diagnostic
from controller.errors import ConfigError, FilterSyntaxError
from controller.filters import And, Compare, Filter, Literal, Not, Or, Present, parse_filter
from controller.recon import SituationPolicy

__all__ = [
    "CONNECTOR_REF",
    "DEFAULT_REALM",
    "NativeObject",
    "Rendering",
    "application_id",
    "connector_name",
    "esv_placeholder",
    "mapping_name",
    "owner_placeholder",
    "query_filter",
    "render_application",
    "render_connector",
    "render_esvs",
    "render_mapping",
    "render_resources",
    "render_schedule",
    "resolve_owners",
    "schedule_name",
]

DEFAULT_REALM: Final = "alpha"

#: ``connectorRef`` exactly as AIC ships the MS Graph connector (§3.1, ``provisioner.openicf/Azure``).
CONNECTOR_REF: Final[Mapping[str, str]] = {
    "bundleName": "org.forgerock.openicf.connectors.msgraphapi-connector",
    "bundleVersion": "1.5.20.21",
    "connectorName": "org.forgerock.openicf.connectors.msgraphapi.MSGraphAPIConnector",
    "displayName": "MSGraphAPI Connector",
    "systemType": "provisioner.openicf",
}

# The MS Graph connector's non-credential configurationProperties at the values AIC ships (§3.1).
_CONNECTOR_DEFAULTS: Final[Mapping[str, Any]] = {
    "httpProxyHost": None, "httpProxyPassword": None, "httpProxyPort": None, "httpProxyUsername": None,
    "licenseCacheExpiryTime": 60, "performHardDelete": True, "readRateLimit": None, "writeRateLimit": None,
}
# Properties of the connector for the login and Graph endpoints (sovereign clouds), by idmctl field. The
# connector as AIC ships it (1.5.20.21, §3.1) has none, so authorityHost and graphUrl stay AIC's defaults
# (Microsoft's global cloud) and a non-default value is reported as a note; add the property names here
# when a connector version that has them is the one AIC ships.
_ENDPOINT_PROPERTIES: Final[Mapping[str, str]] = {}
_DEFAULT_ENDPOINTS: Final[Mapping[str, str]] = {
    "authorityHost": "https://login.microsoftonline.com", "graphUrl": "https://graph.microsoft.com"}

_OPERATIONS: Final = ("AUTHENTICATE", "CREATE", "DELETE", "GET", "RESOLVEUSERNAME", "SCHEMA",
                      "SCRIPT_ON_CONNECTOR", "SCRIPT_ON_RESOURCE", "SEARCH", "SYNC", "TEST", "UPDATE", "VALIDATE")
_POOL: Final[Mapping[str, int]] = {"maxIdle": 10, "maxObjects": 10, "maxWait": 150000,
                                   "minEvictableIdleTimeMillis": 120000, "minIdle": 1}
_RESULTS_HANDLER: Final[Mapping[str, bool]] = {
    "enableAttributesToGetSearchResultsHandler": True, "enableCaseInsensitiveFilter": False,
    "enableFilteredResultsHandler": False, "enableNormalizingResultsHandler": False}


def _string(name: str, required: bool = False) -> dict[str, Any]:
    prop: dict[str, Any] = {"nativeName": name, "nativeType": "string", "type": "string"}
    if required:
        prop["required"] = True
    return prop


def _strings(name: str) -> dict[str, Any]:
    return {"items": {"nativeType": "string", "type": "string"}, "nativeName": name, "nativeType": "string",
            "type": "array"}


# The User object type of the exported connector (§3.1): the properties whose shape the export shows.
_USER_PROPERTIES: Final[Mapping[str, Mapping[str, Any]]] = {
    "__PASSWORD__": {"flags": ["NOT_UPDATEABLE", "NOT_READABLE", "NOT_RETURNED_BY_DEFAULT"],
                     "nativeName": "__PASSWORD__", "nativeType": "JAVA_TYPE_GUARDEDSTRING", "required": True,
                     "type": "string"},
    "accountEnabled": {"nativeName": "accountEnabled", "nativeType": "boolean", "required": True, "type": "boolean"},
    "displayName": _string("displayName", True),
    "givenName": _string("givenName"),
    "mail": _string("mail", True),
    "mailNickname": _string("mailNickname", True),
    "memberOf": {"flags": ["NOT_RETURNED_BY_DEFAULT"], "nativeName": "memberOf", "nativeType": "object",
                 "type": "array"},
    "surname": _string("surname"),
    "userPrincipalName": _string("userPrincipalName", True),
    **{name: _string(name) for name in (
        "city", "companyName", "country", "department", "jobTitle", "manager", "mobilePhone",
        "onPremisesImmutableId", "postalCode", "preferredLanguage", "state", "streetAddress", "usageLocation",
        "userType")},
    "otherMails": _strings("otherMails"),
    "proxyAddresses": _strings("proxyAddresses"),
}

#: Situations in the order the AIC console writes a mapping's policies (§2.3, the real export).
_SITUATION_ORDER: Final = (
    Situation.AMBIGUOUS, Situation.SOURCE_MISSING, Situation.MISSING, Situation.FOUND_ALREADY_LINKED,
    Situation.UNQUALIFIED, Situation.UNASSIGNED, Situation.LINK_ONLY, Situation.TARGET_IGNORED,
    Situation.SOURCE_IGNORED, Situation.ALL_GONE, Situation.CONFIRMED, Situation.FOUND, Situation.ABSENT)

_JS = "text/javascript"
_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_OWNER_REF = re.compile(r"^managed/(?P<realm>[a-z][a-z0-9_]*)_user/\{userName=(?P<user>.+)\}$")


@dataclass(frozen=True)
class NativeObject:
    """One object as the tenant holds it: its native id, where it is written, and its JSON body.

    ``value`` is an ESV variable's value (a tenant or client id: configuration, not a secret) and
    ``secret`` an ESV secret's idmctl secret name; neither is ever part of ``body``, which is what
    ``render`` writes and what a frodo or fr-config-manager export is diffed against.
    """

    kind: str  # "variable" | "secret" | "connector" | "mapping" | "application" | "schedule"
    id: str  # "provisioner.openicf/Entra", "mapping/…", "managed/alpha_application/<uuid>", "schedule/…", "esv-…"
    path: str  # the REST path it is written to: /openidm/config/<id>, /openidm/<id>, /environment/…
    file: str  # relative file name in a rendering: <id>.json, esv/variables/<id>.json, esv/secrets/<id>.json
    address: str  # the idmctl resource it comes from: "Connector.entra"
    body: dict[str, Any]
    value: str | None = None
    secret: str | None = None


@dataclass(frozen=True)
class Rendering:
    """Every native object of an environment, in the safe apply order (§0), with notes for people."""

    environment: str
    realm: str
    objects: tuple[NativeObject, ...]
    notes: tuple[str, ...] = ()


def _config_object(kind: str, native_id: str, address: str, body: dict[str, Any]) -> NativeObject:
    return NativeObject(kind, native_id, f"/openidm/config/{native_id}", f"{native_id}.json", address,
                        {"_id": native_id, **body})


def _path_name(path: str) -> str:
    """IDM's name part for a resource path: ``system/Entra/User`` -> ``systemEntraUser``."""
    first, *rest = path.split("/")
    return first + "".join(part.capitalize() for part in rest)


def _pinned(resource: Any) -> str | None:
    naming = getattr(resource.spec, "aic", None)
    return getattr(naming, "name", None) if naming is not None else None


def _checked(name: str, pattern: str, what: str, address: str) -> str:
    if not re.match(pattern, name):
        raise ConfigError([Diagnostic(
            "error", f"{address}: the AIC {what} {name!r} is not a name AIC accepts",
            "Pin a valid one in spec.aic.name (letters, digits and '_', starting with a letter); "
            "`idmctl validate` lists the rules")])
    return name


# --- names -------------------------------------------------------------------------------------------


def connector_name(connector: ConnectorResource) -> str:
    """The connector's native name: ``spec.aic.name``, else ``entra`` -> ``Entra``, ``hr-entra`` -> ``HrEntra``."""
    name = _pinned(connector) or "".join(part.capitalize() for part in connector.metadata.name.split("-"))
    return _checked(name, AIC_CONNECTOR_NAME_PATTERN, "connector name", f"Connector.{connector.metadata.name}")


def _connector(resources: ResourceSet, name: str, address: str) -> ConnectorResource:
    try:
        return resources.connectors[name]
    except KeyError:
        raise ConfigError([Diagnostic("error", f"{address}: Connector {name!r} does not exist",
                                      "Run `idmctl validate` and fix the reference")]) from None


def _system_path(connector: ConnectorResource, object_type: str) -> str:
    return f"system/{connector_name(connector)}/{object_type}"


def mapping_name(mapping: MappingResource, resources: ResourceSet) -> str:
    """``spec.aic.name``, else the console's ``system<Conn><Type>_managed<Realm>_<obj>`` (module docstring)."""
    pinned = _pinned(mapping)
    if pinned is None:
        address = f"Mapping.{mapping.metadata.name}"
        connector = _connector(resources, mapping.spec.source.connector, address)
        source = _system_path(connector, mapping.spec.source.objectType)
        pinned = f"{_path_name(source)}_{_path_name(mapping.spec.target)}"
    return _checked(pinned, AIC_MAPPING_NAME_PATTERN, "mapping name", f"Mapping.{mapping.metadata.name}")


def schedule_name(schedule: ScheduleResource) -> str:
    """``spec.aic.name``, else the metadata name (``entra-incremental``)."""
    return _checked(_pinned(schedule) or schedule.metadata.name, AIC_SCHEDULE_NAME_PATTERN, "schedule name",
                    f"Schedule.{schedule.metadata.name}")


def application_id(application: ApplicationResource, environment: str) -> str:
    """``spec.aic.id``, else a UUID (v5) of the environment and the metadata name: stable across renders."""
    naming = application.spec.aic
    if naming is not None and naming.id is not None:
        return _checked(naming.id, AIC_APPLICATION_ID_PATTERN, "application id",
                        f"Application.{application.metadata.name}")
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"idmctl:{environment}/Application/{application.metadata.name}"))


# The spec.aic.esv field that pins each ESV of a connector.
_ESV_PINS: Final[Mapping[str, str]] = {"tenant-id": "tenantId", "client-id": "clientId",
                                       "client-secret": "clientSecret"}


def _esv_id(connector: ConnectorResource, what: str) -> str:
    """``spec.aic.esv.<tenantId|clientId|clientSecret>``, else ``esv-idmctl-<connector>-<what>``."""
    naming = connector.spec.aic
    pins = naming.esv if naming is not None else None
    pinned: str | None = getattr(pins, _ESV_PINS[what]) if pins is not None else None
    return pinned or f"esv-idmctl-{connector_name(connector).lower()}-{what}"


def esv_placeholder(esv_id: str) -> str:
    """``esv-idmctl-entra-client-secret`` -> ``&{esv.idmctl.entra.client.secret}`` (§4.2)."""
    return "&{esv." + esv_id.removeprefix("esv-").replace("-", ".") + "}"


def owner_placeholder(user_name: str, realm: str) -> str:
    """An owner's ``_ref`` before apply knows the user's id: ``managed/<realm>_user/{userName=<u>}``."""
    return f"managed/{realm}_user/{{userName={user_name}}}"


# --- ESVs and the connector (§3.1, §4) ---------------------------------------------------------------


def render_esvs(connector: ConnectorResource) -> list[NativeObject]:
    """The ESV variables (tenant and client id) and the ESV secret (client secret) the connector references.

    Bodies hold the id, description and type only (§4.1): the variables' values travel in
    ``NativeObject.value``, and the secret's value is read from its source by apply, never here.
    """
    address = f"Connector.{connector.metadata.name}"
    native = connector_name(connector)
    out = []
    for what, label, value in (("tenant-id", "Directory (tenant) ID", connector.spec.tenantId),
                               ("client-id", "Application (client) ID", connector.spec.clientId)):
        esv = _esv_id(connector, what)
        out.append(NativeObject(
            "variable", esv, f"/environment/variables/{esv}", f"esv/variables/{esv}.json", address,
            {"_id": esv, "description": f"idmctl {address}: {label} of the Entra app registration "
             f"(provisioner.openicf/{native})", "expressionType": "string"}, value=value))
    esv = _esv_id(connector, "client-secret")
    out.append(NativeObject(
        "secret", esv, f"/environment/secrets/{esv}", f"esv/secrets/{esv}.json", address,
        {"_id": esv, "description": f"idmctl {address}: client secret Value of the Entra app registration "
         f"(provisioner.openicf/{native})", "encoding": "generic", "useInPlaceholders": True},
        secret=_secret_name(connector.spec.clientSecret)))
    return out


def _secret_name(reference: str) -> str:
    return reference.removeprefix("${secret.").removesuffix("}")


def _user_object_type(attributes: Iterable[str]) -> dict[str, Any]:
    properties = {k: copy.deepcopy(dict(v)) for k, v in _USER_PROPERTIES.items()}
    for attr in attributes:  # a mapping may read only declared properties: declare what it reads
        top = attr.split("/", 1)[0]
        if top not in properties and top not in ("_id", "id"):
            properties[top] = _string(top)
    return {"$schema": "http://json-schema.org/draft-03/schema", "id": "__ACCOUNT__", "nativeType": "__ACCOUNT__",
            "properties": dict(sorted(properties.items())), "type": "object"}


def render_connector(connector: ConnectorResource, resources: ResourceSet | None = None,
                     notes: list[str] | None = None) -> NativeObject:
    """``provisioner.openicf/<name>``: the MS Graph connector as AIC ships it, credentials as ESV placeholders.

    ``resources`` adds to the User object type every source attribute its mappings read; ``notes``
    collects what the rendering cannot express (a sovereign-cloud endpoint).
    """
    spec = connector.spec
    native = connector_name(connector)
    properties: dict[str, Any] = {
        "tenant": esv_placeholder(_esv_id(connector, "tenant-id")),
        "clientId": esv_placeholder(_esv_id(connector, "client-id")),
        "clientSecret": esv_placeholder(_esv_id(connector, "client-secret")),
        **_CONNECTOR_DEFAULTS,
    }
    for attr, default in _DEFAULT_ENDPOINTS.items():
        value = getattr(spec, attr)
        if attr in _ENDPOINT_PROPERTIES:
            properties[_ENDPOINT_PROPERTIES[attr]] = value
        elif value.rstrip("/") != default and notes is not None:
            notes.append(f"Connector.{connector.metadata.name}: {attr} {value} is not rendered: the MS Graph "
                         f"connector AIC ships ({CONNECTOR_REF['bundleVersion']}) has no property for it, so "
                         "the tenant's connector calls Microsoft's global cloud")
    attributes: list[str] = []
    if resources is not None:
        for mapping in resources.mappings.values():
            if mapping.spec.source.connector == connector.metadata.name:
                attributes += [p.source for p in mapping.spec.properties if p.source]
                attributes += sorted(_filter_attributes(mapping))
    body = {
        "configurationProperties": properties,
        "connectorRef": dict(CONNECTOR_REF),
        "enabled": True,
        "objectTypes": {"User": _user_object_type(attributes)},
        "operationTimeout": dict.fromkeys(_OPERATIONS, -1),
        "poolConfigOption": dict(_POOL),
        "resultsHandlerConfig": dict(_RESULTS_HANDLER),
    }
    return _config_object("connector", f"provisioner.openicf/{native}", f"Connector.{connector.metadata.name}",
                          body)


# --- filters: queryFilter text and a JavaScript predicate ----------------------------------------------


def _parse(text: str | None, address: str, field: str) -> Filter | None:
    if text is None or not text.strip():
        return None
    try:
        return parse_filter(text)
    except FilterSyntaxError as exc:
        raise ConfigError([Diagnostic("error", f"{address}: spec.{field} does not parse: {exc}",
                                      "Fix it; `idmctl validate` shows where")]) from None


def _filter_attributes(mapping: MappingResource) -> set[str]:
    out: set[str] = set()
    for text in (mapping.spec.sourceFilter, mapping.spec.validSource):
        tree = _parse(text, f"Mapping.{mapping.metadata.name}", "sourceFilter")
        stack = [tree] if tree is not None else []
        while stack:
            node = stack.pop()
            if isinstance(node, Compare | Present):
                out.add(node.attr)
            elif isinstance(node, Not):
                stack.append(node.item)
            elif isinstance(node, And | Or):
                stack.extend(node.items)
    return out


def _native_attr(attr: str) -> str:
    """A Graph attribute path as the connector's object has it: Graph's ``id`` is the object's ``_id``."""
    head, sep, rest = attr.partition("/")
    return ("_id" if head == "id" else head) + sep + rest


def _literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def query_filter(tree: Filter, prefix: str = "") -> str:
    """The filter as an IDM queryFilter: ``!`` for negation (AIC refuses ``not``, §6), ``eq null`` as
    ``!(a pr)``; ``prefix="/source/"`` gives a ``sourceCondition`` (§2.3)."""
    if isinstance(tree, Compare):
        attr = prefix + _native_attr(tree.attr)
        if tree.value is None:
            return f"!({attr} pr)" if tree.op == "eq" else f"{attr} pr"
        return f"{attr} {tree.op} {_literal(tree.value)}"
    if isinstance(tree, Present):
        return f"{prefix}{_native_attr(tree.attr)} pr"
    if isinstance(tree, Literal):
        return "true" if tree.value else "false"
    if isinstance(tree, Not):
        return f"!({query_filter(tree.item, prefix)})"
    keyword = " and " if isinstance(tree, And) else " or "
    return keyword.join(f"({query_filter(i, prefix)})" if isinstance(i, And | Or) else query_filter(i, prefix)
                        for i in tree.items)


# The filter evaluator of controller.filters in ES5 (IDM's Rhino): strings compare case-insensitively
# and only with strings, numbers with numbers, booleans with booleans; a missing value matches only
# "eq null" / "!pr"; a path through a list collects every element's values (SCIM).
_JS_FILTER_PRELUDE = (
    "function get(o, path) { var segs = path.split('/'), cur = [o], i, j; "
    "for (i = 0; i < segs.length; i++) { var next = [], keep = i + 1 < segs.length && /^[0-9]+$/.test(segs[i + 1]); "
    "for (j = 0; j < cur.length; j++) { var v = cur[j], c; "
    "if (Array.isArray(v)) { if (!/^[0-9]+$/.test(segs[i])) { continue; } c = v[+segs[i]]; } "
    "else if (v !== null && typeof v === 'object') { c = v[segs[i]]; } else { continue; } "
    "if (c === null || c === undefined) { continue; } "
    "if (Array.isArray(c) && !keep) { next = next.concat(c); } else { next.push(c); } } "
    "if (!next.length) { return null; } cur = next; } return cur.length === 1 ? cur[0] : cur; } "
    "function test(v, op, lit) { if (op === 'ne') { return !test(v, 'eq', lit); } "
    "if (typeof lit === 'boolean') { return op === 'eq' && v === lit; } "
    "if (typeof lit === 'string') { if (typeof v !== 'string') { return false; } var s = v.toLowerCase(); "
    "if (op === 'eq') { return s === lit; } if (op === 'co') { return s.indexOf(lit) >= 0; } "
    "if (op === 'sw') { return s.indexOf(lit) === 0; } "
    "if (op === 'ew') { return s.length >= lit.length && s.substring(s.length - lit.length) === lit; } "
    "} else if (typeof lit === 'number') { if (typeof v !== 'number') { return false; } "
    "if (op === 'eq') { return v === lit; } } else { return false; } "
    "var a = typeof v === 'string' ? v.toLowerCase() : v; "
    "if (op === 'gt') { return a > lit; } if (op === 'ge') { return a >= lit; } "
    "if (op === 'lt') { return a < lit; } if (op === 'le') { return a <= lit; } return false; } "
    "function cmp(o, path, op, lit) { var v = get(o, path), i; if (v === null) { return false; } "
    "if (Array.isArray(v)) { for (i = 0; i < v.length; i++) { if (v[i] !== null && test(v[i], op, lit)) "
    "{ return true; } } return false; } return test(v, op, lit); } "
)


def _js_filter(tree: Filter) -> str:
    if isinstance(tree, Compare):
        path = _literal(_native_attr(tree.attr))
        if tree.value is None:
            return f"(get(source, {path}) {'===' if tree.op == 'eq' else '!=='} null)"
        value = tree.value.lower() if isinstance(tree.value, str) else tree.value
        return f"cmp(source, {path}, {_literal(tree.op)}, {_literal(value)})"
    if isinstance(tree, Present):
        return f"(get(source, {_literal(_native_attr(tree.attr))}) !== null)"
    if isinstance(tree, Literal):
        return "true" if tree.value else "false"
    if isinstance(tree, Not):
        return f"!{_js_filter(tree.item)}"
    keyword = " && " if isinstance(tree, And) else " || "
    return "(" + keyword.join(_js_filter(i) for i in tree.items) + ")"


def _filter_script(tree: Filter) -> dict[str, str]:
    return {"type": _JS, "source": f"(function (source) {{ {_JS_FILTER_PRELUDE}return {_js_filter(tree)}; }}(source))"}


# --- the mapping (§2.3) ----------------------------------------------------------------------------------


def _transform_function(transform: Transform) -> str:
    """An ES5 function of one value doing what controller.recon's transform does (lower/upper/trim/map)."""
    steps = transform if isinstance(transform, list) else [transform]
    body = []
    for i, step in enumerate(steps):
        if isinstance(step, MapTransform):
            table = {str(k): v for k, v in step.map.items()}
            # Keys are text: a boolean is looked up as "true"/"false", a number as its decimal text.
            body.append(f"var t{i} = {json.dumps(table, ensure_ascii=True)}; "
                        f"var k{i} = (v === null || v === undefined) ? null : String(v); "
                        f"v = (k{i} !== null && Object.prototype.hasOwnProperty.call(t{i}, k{i})) ? t{i}[k{i}] : "
                        f"{json.dumps(step.default, ensure_ascii=True)};")
        else:
            method = {"lower": "toLowerCase", "upper": "toUpperCase", "trim": "trim"}[step]
            body.append(f"if (typeof v === 'string') {{ v = v.{method}(); }}")
    return "function (v) { " + " ".join(body) + " return v; }"


def _js_get(attr: str) -> str:
    expr = "source"
    for segment in _native_attr(attr).split("/"):
        access = f".{segment}" if _IDENT.match(segment) else f"[{_literal(segment)}]"
        expr = f"{expr}{access}" if expr == "source" else f"({expr} == null ? null : {expr}{access})"
    return expr


def _render_property(prop: PropertyMapping) -> dict[str, Any]:
    out: dict[str, Any] = {"target": prop.target}
    if prop.source is not None:
        out["source"] = _native_attr(prop.source)
    if prop.transform is not None and prop.transform != []:
        # IDM hands the transform the source property's value as `source` (null when there is none).
        argument = "source" if prop.source is not None else "null"
        out["transform"] = {"type": _JS, "source": f"({_transform_function(prop.transform)}({argument}))"}
    if prop.default is not None:
        out["default"] = prop.default  # IDM writes the default when the (transformed) value is null
    return out


def _mapped_value(prop: PropertyMapping) -> str:
    """A JavaScript expression of the value the property maps to (its transform and default applied)."""
    expr = _js_get(prop.source) if prop.source is not None else "null"
    if prop.transform is not None and prop.transform != []:
        expr = f"({_transform_function(prop.transform)}({expr}))"
    if prop.default is not None:
        expr = f"(function (v) {{ return v === null || v === undefined ? {_literal(prop.default)} : v; }}({expr}))"
    return expr


# A queryFilter string literal of any value: double-quoted, with backslash and double quote escaped.
_JS_QUOTE = r"""function quote(v) { return '"' + String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"'; }"""


def _correlation_query(mapping: MappingResource) -> list[dict[str, str]] | None:
    """The console's form (§2.3): ``var qry = {'_queryFilter': …}; qry``, one term per correlated
    property, the source's mapped value quoted and escaped; a null value cannot match (``false``)."""
    corr = mapping.spec.correlation
    if corr is None:
        return None
    mode, names = ("any", corr.any) if corr.any else ("all", corr.all or [])
    by_target = {p.target: p for p in mapping.spec.properties}
    lines = [_JS_QUOTE, "var terms = [], missing = false, v;"]
    for name in dict.fromkeys(names):
        lines.append(f"v = {_mapped_value(by_target[name])};")
        lines.append("if (v === null || v === undefined) { missing = true; } "
                     f"else {{ terms.push({_literal(name + ' eq ')} + quote(v)); }}")
    if mode == "any":
        lines.append("var qry = {'_queryFilter': terms.length ? terms.join(' or ') : 'false'}; qry")
    else:
        lines.append("var qry = {'_queryFilter': missing || !terms.length ? 'false' : terms.join(' and ')}; qry")
    return [{"linkQualifier": "default", "source": " ".join(lines), "type": _JS}]


def _policies(mapping: MappingResource) -> list[dict[str, str]]:
    table = SituationPolicy.from_spec(mapping.spec.policies).table()
    return [{"action": table[str(s)], "situation": str(s)} for s in _SITUATION_ORDER]


def render_mapping(mapping: MappingResource, resources: ResourceSet,
                   notes: list[str] | None = None) -> NativeObject:
    """``mapping/<name>`` in the console's per-mapping form (§2.2, §2.3).

    - properties with their defaults, and transforms as ``text/javascript`` transform scripts;
    - correlation as a ``correlationQuery`` script (not a ``correlationScript``, which must return records);
    - ``policies``: every situation, at IDM's engine defaults unless the base or a rule says otherwise;
    - ``sourceFilter`` as both ``sourceQuery`` (recon's query) and ``sourceCondition`` (evaluated for recon,
      liveSync and implicit sync alike, so incremental runs are filtered too);
    - ``validSource`` as a script implementing idmctl's filter semantics; ``runTargetPhase`` is
      ``targetScope: all``.
    """
    spec = mapping.spec
    address = f"Mapping.{mapping.metadata.name}"
    connector = _connector(resources, spec.source.connector, address)
    name = mapping_name(mapping, resources)
    body: dict[str, Any] = {
        "consentRequired": False,
        "displayName": name,
        "icon": None,
        "name": name,
        "policies": _policies(mapping),
        "properties": [_render_property(p) for p in spec.properties],
        "reconSourceQueryPageSize": connector.spec.pageSize,
        "reconSourceQueryPaging": True,
        "runTargetPhase": spec.targetScope == "all",
        "source": _system_path(connector, spec.source.objectType),
        "sourceQueryFullEntry": True,
        "target": spec.target,
    }
    correlation = _correlation_query(mapping)
    if correlation is not None:
        body["correlationQuery"] = correlation
    scope = _parse(spec.sourceFilter, address, "sourceFilter")
    if scope is not None:
        body["sourceQuery"] = {"_queryFilter": query_filter(scope)}
        body["sourceCondition"] = query_filter(scope, "/source/")
    valid = _parse(spec.validSource, address, "validSource")
    if valid is not None:
        body["validSource"] = _filter_script(valid)
    if notes is not None and all(p["action"] == "ASYNC" for p in body["policies"]):
        notes.append(f"{address}: every situation is ASYNC (policies.base read-only): AIC fails a recon of such "
                     "a mapping at setup (COMPLETED_FAILED, 0 processed); give some situations an executable action")
    return _config_object("mapping", f"mapping/{name}", address, body)


# --- the application (§3.3) -------------------------------------------------------------------------------


def render_application(application: ApplicationResource, resources: ResourceSet,
                       realm: str = DEFAULT_REALM) -> NativeObject:
    """``managed/<realm>_application/<id>``: the authoritative (or not) app of the Microsoft template.

    ``owners`` are relationship items to the owners' managed users. Their ids exist only on the tenant,
    so each ``_ref`` holds ``managed/<realm>_user/{userName=<u>}`` (``owner_placeholder``): apply looks
    each userName up with ``GET /openidm/managed/<realm>_user?_queryFilter=userName eq "<u>"&_fields=_id``,
    requires exactly one match (none or several is an error naming the owner), and writes the
    ``_ref`` with that ``_id`` (``resolve_owners``); a comparison with the tenant does the same.
    """
    spec = application.spec
    address = f"Application.{application.metadata.name}"
    connector = _connector(resources, spec.connector, address)
    app_id = application_id(application, resources.name)
    mappings = sorted((m for m in resources.mappings.values() if m.spec.source.connector == spec.connector),
                      key=lambda m: m.metadata.name)
    name = spec.aic.name if spec.aic is not None and spec.aic.name else spec.displayName
    body: dict[str, Any] = {
        "_id": app_id,
        "authoritative": spec.authoritative,
        "connectorId": connector_name(connector),
        "description": application.metadata.description or spec.displayName,
        "icon": "",
        "mappingNames": [mapping_name(m, resources) for m in mappings],
        "name": name,
        "owners": [{"_ref": owner_placeholder(user, realm), "_refProperties": {}} for user in spec.owners],
        "templateName": "azure.ad",
        "templateVersion": "3.3",
    }
    native_id = f"managed/{realm}_application/{app_id}"
    return NativeObject("application", native_id, f"/openidm/{native_id}", f"{native_id}.json", address, body)


def resolve_owners(body: Mapping[str, Any], ids: Mapping[str, str]) -> dict[str, Any]:
    """The application body with each owner placeholder replaced by ``managed/<realm>_user/<id>``;
    ``ids`` maps userName -> the managed user's ``_id``. Raises ``KeyError`` naming an unresolved owner."""
    out = copy.deepcopy(dict(body))
    owners = []
    for item in out.get("owners", []):
        m = _OWNER_REF.match(str(item.get("_ref", "")))
        if m is not None:
            item = {**item, "_ref": f"managed/{m['realm']}_user/{ids[m['user']]}"}
        owners.append(item)
    out["owners"] = owners
    return out


# --- the schedule (§5.3, §5.4) ------------------------------------------------------------------------------


def render_schedule(schedule: ScheduleResource, resources: ResourceSet) -> NativeObject:
    """``schedule/<name>``: incremental is a liveSync of the mapping's source (``invokeService:
    provisioner``), full a recon of the mapping (``invokeService: sync``); the Quartz cron as written."""
    spec = schedule.spec
    address = f"Schedule.{schedule.metadata.name}"
    mapping = resources.mappings.get(spec.mapping)
    if mapping is None:
        raise ConfigError([Diagnostic("error", f"{address}: Mapping {spec.mapping!r} does not exist",
                                      "Run `idmctl validate` and fix the reference")])
    if spec.mode == "incremental":
        connector = _connector(resources, mapping.spec.source.connector, address)
        service = "provisioner"
        context = {"action": "liveSync", "source": _system_path(connector, mapping.spec.source.objectType)}
    else:
        service = "sync"
        context = {"action": "reconcile", "mapping": mapping_name(mapping, resources)}
    body = {
        "concurrentExecution": False,
        "enabled": spec.enabled,
        "endTime": None,
        "invokeContext": context,
        "invokeLogLevel": "info",
        "invokeService": service,
        "isCron": True,
        "misfirePolicy": spec.misfirePolicy,  # idmctl's names are IDM's: fireAndProceed, doNothing
        "persisted": True,  # a non-persisted schedule runs but is hidden from the console (§5.4)
        "schedule": spec.cron,
        "startTime": None,
        "timeZone": spec.timeZone,
        "type": "cron",
    }
    return _config_object("schedule", f"schedule/{schedule_name(schedule)}", address, body)


# --- everything ------------------------------------------------------------------------------------------------


def _unique(objects: Sequence[NativeObject]) -> None:
    seen: dict[str, str] = {}
    for obj in objects:
        key = obj.id.lower()
        if key in seen and seen[key] != obj.address:
            raise ConfigError([Diagnostic(
                "error", f"{seen[key]} and {obj.address} both render to the AIC object {obj.id!r}",
                "A PUT is an upsert: one would overwrite the other. Pin a distinct name in spec.aic.name")])
        seen.setdefault(key, obj.address)


def render_resources(resources: ResourceSet, realm: str = DEFAULT_REALM) -> Rendering:
    """Every native object of ``resources``, in the safe apply order: ESVs, connectors, mappings,
    applications, schedules (§0). Raises ``ConfigError`` for a name AIC would reject or a clash."""
    notes: list[str] = []
    objects: list[NativeObject] = []
    connectors = [resources.connectors[n] for n in sorted(resources.connectors)]
    for connector in connectors:
        objects += render_esvs(connector)
    objects += [render_connector(c, resources, notes) for c in connectors]
    for name in sorted(resources.mappings):
        mapping = resources.mappings[name]
        if mapping.spec.target.startswith("managed/") and not mapping.spec.target.startswith(f"managed/{realm}_"):
            notes.append(f"Mapping.{name}: target {mapping.spec.target} is outside realm {realm!r}")
        objects.append(render_mapping(mapping, resources, notes))
    objects += [render_application(resources.applications[n], resources, realm) for n in sorted(resources.applications)]
    schedules = [render_schedule(resources.schedules[n], resources) for n in sorted(resources.schedules)]
    live: dict[str, str] = {}
    for obj in schedules:
        source = obj.body["invokeContext"].get("source")
        if source is not None and source in live:
            notes.append(f"{live[source]} and {obj.address} both liveSync {source}: one liveSync serves every "
                         "mapping of a source, and two must not run at once (§5.3)")
        elif source is not None:
            live[source] = obj.address
    objects += schedules
    _unique(objects)
    return Rendering(resources.name, realm, tuple(objects), tuple(notes))
