"""Adopting what a PingOne Advanced Identity Cloud tenant already has: the inverse of ``_render``.

``import_tenant`` turns the native objects read from a tenant (a ``TenantSnapshot``: its MS Graph
connectors, their inbound mappings from ``mapping/*`` and ``sync``, the schedules that run those
mappings or liveSync their source, the applications of the connectors, the ESV variables the connectors
reference and the owners' userNames) into idmctl resources, such that ``render_resources`` gives the
tenant's objects back. Pure: no network, no files, no secret value (a client secret never crosses: the
tenant returns ``$crypto`` or an ESV placeholder). ``read_snapshot`` is the thin reader over ``TenantApi``.

Never drop silently: after building the resources, the module renders them and compares every field
with the tenant's object (less the server-managed ones); each field that differs is an ``ImportNote``
(native id, JSON pointer, reason), with the reason idmctl cannot express it and what the plan will do.
What is expressible renders back byte for byte, so ``import`` then ``plan`` shows no change for it.

Where adopting a mapping would widen what it touches (a source filter, a validity script or a
correlation idmctl cannot read), the mapping is not adopted at all, with a note: a plan that drops a
filter would reconcile every account of the tenant.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from controller.backends import JsonObject
from controller.config import ResourceSet
from controller.config._checks import _NEEDS_SOURCE, _NEEDS_TARGET, NO_SOURCE, NO_TARGET
from controller.config.graph_user import graph_user_problem
from controller.config.managed import MANAGED_TYPES
from controller.config.models import (
    AIC_APPLICATION_ID_PATTERN,
    API_VERSION,
    NAME_PATTERN,
    Action,
    ApplicationResource,
    ConnectorResource,
    Correlation,
    EnvironmentResource,
    MappingResource,
    MapTransform,
    PolicySpec,
    PropertyMapping,
    Resource,
    ScheduleResource,
    Situation,
    Transform,
)
from controller.cron import parse_cron, resolve_zone
from controller.errors import CronSyntaxError, FilterSyntaxError
from controller.filters import And, Compare, Filter, Literal, Not, Or, Present, filter_attributes, parse_filter
from controller.platforms.aic._api import TenantApi
from controller.platforms.aic._render import (
    _JS,
    _JS_FILTER_PRELUDE,
    _JS_QUOTE,
    _SITUATION_ORDER,
    CONNECTOR_REF,
    DEFAULT_REALM,
    _filter_script,
    _render_property,
    application_id,
    connector_name,
    esv_placeholder,
    mapping_name,
    query_filter,
    render_resources,
    schedule_name,
)
from controller.recon import SituationPolicy

__all__ = ["ImportNote", "ImportResult", "TenantSnapshot", "import_tenant", "read_snapshot"]

_MSGRAPH: Final = CONNECTOR_REF["connectorName"]
_PLACEHOLDER = re.compile(r"^&\{esv\.([a-z0-9_.-]{1,124})\}$")
_USER_REF = re.compile(r"^managed/(?P<realm>[a-z][a-z0-9_]*)_user/(?P<id>[^/{}]+)$")
_OWNER_PLACEHOLDER = re.compile(r"^managed/(?P<realm>[a-z][a-z0-9_]*)_user/\{userName=(?P<user>.+)\}$")
_TARGET = re.compile(r"^managed/[A-Za-z0-9_]+$")
# The console's own correlation (the azure.ad template, §2.3): one target property equal to one source attribute.
_CONSOLE_CORRELATION = re.compile(
    r"""^var qry = \{'_queryFilter': '(?P<target>[A-Za-z0-9_]+) eq \\?"' \+ source\.(?P<source>[A-Za-z0-9_]+) """
    r"""\+ '\\?"'\}; qry$""")
_TERM = re.compile(r'terms\.push\(("(?:[^"\\]|\\.)*") \+ quote\(v\)\)')
_DECODER = json.JSONDecoder()
_WRITTEN_BY = re.compile(r"^idmctl Connector\.(?P<name>[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?): ")  # render_esvs

# Fields the tenant manages itself, never compared: by kind of native object.
_SERVER_MANAGED: Final[Mapping[str, frozenset[str]]] = {
    "connector": frozenset(), "mapping": frozenset(), "schedule": frozenset(),
    "application": frozenset({"_rev", "_meta"}),
    "variable": frozenset({"lastChangeDate", "lastChangedBy", "loaded", "valueBase64"}),
    "secret": frozenset({"activeVersion", "loadedVersion", "lastChangeDate", "lastChangedBy", "loaded"}),
}
_PROPERTY_FIELDS: Final[Mapping[str, str]] = {
    "condition": "a condition (map only when it holds): idmctl maps every time",
    "referencedObjectType": "a reference to another object type of the connector (groups, roles): idmctl maps "
                            "attributes of User only",
}
_EVENTS: Final = frozenset({"onCreate", "onUpdate", "onDelete", "onLink", "onUnlink", "onSync", "result"})

# Why a field of a native object is not what idmctl renders, by kind and the field's first pointer token.
_REASONS: Final[Mapping[str, Mapping[str, str]]] = {
    "connector": {
        "objectTypes": "the connector's object types: idmctl declares User alone, with the properties AIC ships "
                       "and those its mappings read",
        "connectorRef": "idmctl renders the MS Graph connector as AIC ships it",
        "configurationProperties": "a connector setting idmctl renders at AIC's default",
        "enabled": "idmctl's connectors are enabled",
        "operationTimeout": "connector tuning idmctl renders at AIC's defaults",
        "poolConfigOption": "connector tuning idmctl renders at AIC's defaults",
        "resultsHandlerConfig": "connector tuning idmctl renders at AIC's defaults",
    },
    "mapping": {
        "links": "the mapping reuses another mapping's links: idmctl's mappings keep links of their own",
        "queuedSync": "queued implicit sync: idmctl does not configure it",
        "defaultSourceFields": "the source fields the template reads (groups, roles, service plans): idmctl reads "
                               "the mapped attributes",
        "defaultTargetFields": "the target fields the template reads: idmctl reads the mapped properties",
        "validTarget": "a target validity script: idmctl has no validTarget",
        "targetQuery": "a target-phase query: idmctl's target phase is spec.targetScope (linked or all)",
        "correlationScript": "a correlation script: idmctl writes a correlationQuery from spec.correlation",
        "correlationQuery": "idmctl writes its own correlation script from spec.correlation",
        "linkQualifiers": "link qualifiers: idmctl uses the default one",
        "syncAfter": "mapping order (syncAfter): idmctl does not order mappings",
        "enableSync": "the implicit-sync switch: idmctl does not configure it",
        "optimizeAssignmentSync": "assignment sync tuning: idmctl does not configure it",
        "properties": "a property mapping idmctl cannot express",
        "policies": "idmctl writes every situation of its own, in the console's order",
        "displayName": "idmctl shows the mapping under its name",
        "consentRequired": "idmctl's mappings need no consent",
        "icon": "idmctl renders no icon",
        "reconSourceQueryPaging": "idmctl's recons page the source query",
        "reconSourceQueryPageSize": "idmctl pages by the connector's spec.pageSize",
        "sourceQueryFullEntry": "idmctl's recons read full source entries",
        "sourceQuery": "idmctl writes sourceQuery from spec.sourceFilter",
        "sourceCondition": "idmctl writes sourceCondition from spec.sourceFilter",
        "name": "idmctl names the mapping after its config id",
        "_id": "the config id: idmctl writes mapping/<name>",
    },
    "application": {
        "uiConfig": "the console's display settings for the app's objects: idmctl does not render them",
        "ssoEntities": "single sign-on entities: idmctl does not render them",
        "url": "idmctl renders no URL",
        "icon": "idmctl renders no icon",
        "templateName": "idmctl's applications are of the Microsoft template (azure.ad)",
        "templateVersion": "idmctl writes the template version AIC ships (3.3)",
        "mappingNames": "idmctl lists the mappings it manages from the app's connector, sorted by resource name",
        "members": "application members: idmctl does not render them",
        "roles": "application roles: idmctl does not render them",
        "owners": "an owner idmctl cannot name by userName",
        "description": "idmctl writes metadata.description, else spec.displayName",
    },
    "schedule": {
        "timeZone": "idmctl always writes a time zone (spec.timeZone, UTC by default); without one Quartz uses "
                    "the tenant's",
        "recoverable": "idmctl does not set recoverable",
        "concurrentExecution": "idmctl never runs one schedule twice at once",
        "persisted": "idmctl's schedules are persisted (visible in the console)",
        "invokeLogLevel": "idmctl logs schedule runs at info",
        "startTime": "idmctl's schedules have no start time",
        "endTime": "idmctl's schedules have no end time",
        "invokeContext": "idmctl's schedules reconcile one mapping or liveSync its source, nothing else",
    },
    "variable": {"description": "idmctl writes its own description of the ESV",
                 "expressionType": "idmctl's credential ESVs are strings"},
    "secret": {"description": "idmctl writes its own description of the ESV",
               "encoding": "idmctl's client secret ESV is generic", "useInPlaceholders": "the connector reads it"},
}


@dataclass(frozen=True)
class TenantSnapshot:
    """The native objects ``import_tenant`` reads, exactly as the tenant sent them.

    Keys are native ids: ``provisioner.openicf/<name>``, ``mapping/<name>``, ``schedule/<name>``,
    ``managed/<realm>_application/<id>``; ESV records by ESV id; ``users`` maps a managed user's ``_id`` to
    its ``userName`` (the owners of the applications).
    """

    connectors: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    mappings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sync: Mapping[str, Any] | None = None
    schedules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    applications: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    variables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    secrets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    users: Mapping[str, str] = field(default_factory=dict)
    tenant_url: str = ""


@dataclass(frozen=True, order=True)
class ImportNote:
    """One field of a native object that idmctl cannot express, or expresses differently (a plan change)."""

    native_id: str  # "mapping/systemAzureUser_managedAlpha_user", "sync", "esv-azure-client-id"
    pointer: str  # RFC 6901 pointer into that object ("" is the whole object): "/policies/11/action"
    reason: str


@dataclass(frozen=True)
class ImportResult:
    """The resources adopted, the notes, and what the environment must still declare."""

    environment: str
    realm: str
    resources: tuple[Resource, ...]  # connectors, mappings, applications, schedules (the render order)
    notes: tuple[ImportNote, ...]
    secrets: tuple[str, ...] = ()  # ${secret.NAME} names the resources reference: declare each in environment.yaml
    sources: Mapping[str, str] = field(default_factory=dict)  # "Mapping.azure-users" -> its native id
    # where each resource stands in its native object ("sync" entries: "/mappings/<i>"), and each ESV's connector
    prefixes: Mapping[str, str] = field(default_factory=dict)
    esvs: Mapping[str, str] = field(default_factory=dict)

    def notes_of(self, address: str) -> tuple[ImportNote, ...]:
        """The notes about the native objects resource ``address`` came from (its ESVs' included)."""
        native, prefix = self.sources.get(address), self.prefixes.get(address, "")
        return tuple(n for n in self.notes if self.esvs.get(n.native_id) == address or (
            n.native_id == native and (not prefix or n.pointer == prefix or n.pointer.startswith(prefix + "/"))))


# --- small helpers ------------------------------------------------------------------------------------


def _ptr(*tokens: str | int) -> str:
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


def _token(pointer: str) -> str:
    head = pointer.split("/")[1] if pointer.count("/") else ""
    return head.replace("~1", "/").replace("~0", "~")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _slug(text: str, fallback: str) -> str:
    """A metadata name from a native one: ``AzureAD`` -> ``azure-ad``, ``EWF Users`` -> ``ewf-users``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", text)
    slug = re.sub(r"[^a-z0-9]+", "-", spaced.lower()).strip("-")[:63].strip("-")
    return slug if re.match(NAME_PATTERN, slug) else fallback


def _diff(live: Any, rendered: Any, pointer: str = "") -> Iterator[tuple[str, bool, bool]]:
    """Pointers where ``live`` and ``rendered`` differ: (pointer, the tenant has it, idmctl renders it)."""
    if isinstance(live, dict) and isinstance(rendered, dict):
        for key in sorted(set(live) | set(rendered)):
            p = pointer + _ptr(key)
            if key not in live or key not in rendered:
                yield p, key in live, key in rendered
            else:
                yield from _diff(live[key], rendered[key], p)
    elif isinstance(live, list) and isinstance(rendered, list) and len(live) == len(rendered):
        for i, (a, b) in enumerate(zip(live, rendered, strict=True)):
            yield from _diff(a, b, f"{pointer}/{i}")
    elif _canonical(live) != _canonical(rendered):
        yield pointer, True, True


def _value_at(body: Any, pointer: str) -> Any:
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        body = body[int(token)] if isinstance(body, list) else body[token]
    return body


def _sensitive(pointer: str) -> bool:
    return re.search(r"secret|password|credential|token|key", pointer, re.IGNORECASE) is not None


def _graph_attr(native: str) -> str:
    """A connector object's attribute path as idmctl writes it: the object's ``_id`` is Graph's ``id``."""
    head, sep, rest = native.partition("/")
    return ("id" if head == "_id" else head) + sep + rest


def _graph_filter(tree: Filter) -> Filter:
    if isinstance(tree, Compare):
        return dataclasses.replace(tree, attr=_graph_attr(tree.attr))
    if isinstance(tree, Present):
        return Present(_graph_attr(tree.attr))
    if isinstance(tree, Not):
        return Not(_graph_filter(tree.item))
    if isinstance(tree, And | Or):
        return type(tree)(tuple(_graph_filter(i) for i in tree.items))
    return tree


def _parse_query(text: str) -> Filter | None:
    try:
        return _graph_filter(parse_filter(text))
    except FilterSyntaxError:
        return None


# --- the inverse of the renderer's scripts --------------------------------------------------------------

_SIMPLE_STEPS: Final = {f"if (typeof v === 'string') {{ v = v.{method}(); }}": name for name, method in (
    ("lower", "toLowerCase"), ("upper", "toUpperCase"), ("trim", "trim"))}


def _parse_transform(script: Any) -> Transform | None:
    """The lower/upper/trim/map steps of a transform script ``_render`` wrote; None for any other script."""
    if not isinstance(script, str):
        return None
    head = "(function (v) { "
    for argument in ("source", "null"):
        tail = f" return v; }}({argument}))"
        if script.startswith(head) and script.endswith(tail):
            body = script[len(head):-len(tail)]
            break
    else:
        return None
    steps: list[Any] = []
    pos = 0
    try:
        while pos < len(body):
            if steps:
                if body[pos] != " ":
                    return None
                pos += 1
            simple = next((name for text, name in _SIMPLE_STEPS.items() if body.startswith(text, pos)), None)
            if simple is not None:
                steps.append(simple)
                pos += len(next(t for t, n in _SIMPLE_STEPS.items() if n == simple))
                continue
            i = len(steps)
            start = f"var t{i} = "
            middle = (f"; var k{i} = (v === null || v === undefined) ? null : String(v); "
                      f"v = (k{i} !== null && Object.prototype.hasOwnProperty.call(t{i}, k{i})) ? t{i}[k{i}] : ")
            if not body.startswith(start, pos):
                return None
            table, pos = _DECODER.raw_decode(body, pos + len(start))
            if not isinstance(table, dict) or not body.startswith(middle, pos):
                return None
            default, pos = _DECODER.raw_decode(body, pos + len(middle))
            if not body.startswith(";", pos):
                return None
            pos += 1
            steps.append(MapTransform(map=table, default=default))
    except (json.JSONDecodeError, ValidationError, IndexError):
        return None
    if not steps:
        return None
    return steps[0] if len(steps) == 1 else steps


class _JsFilter:
    """The filter a ``validSource`` script of ``_render`` tests (its ``_js_filter`` expression, read back)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def take(self, literal: str) -> bool:
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def expect(self, literal: str) -> None:
        if not self.take(literal):
            raise ValueError(f"expected {literal!r} at {self.pos}")

    def value(self) -> Any:
        value, self.pos = _DECODER.raw_decode(self.text, self.pos)
        return value

    def parse(self) -> Filter:
        tree = self.expr()
        if self.pos != len(self.text):
            raise ValueError("trailing text")
        return tree

    def expr(self) -> Filter:
        if self.take("!"):
            return Not(self.expr())
        if self.take("true"):
            return Literal(True)
        if self.take("false"):
            return Literal(False)
        if self.take("cmp(source, "):
            path = self.value()
            self.expect(", ")
            op = self.value()
            self.expect(", ")
            literal = self.value()
            self.expect(")")
            return Compare(_graph_attr(str(path)), str(op), literal)
        if self.take("(get(source, "):
            path = _graph_attr(str(self.value()))
            if self.take(") === null)"):
                return Compare(path, "eq", None)
            self.expect(") !== null)")
            return Present(path)
        self.expect("(")
        items = [self.expr()]
        joiner = " && " if self.text.startswith(" && ", self.pos) else " || "
        while self.take(joiner):
            items.append(self.expr())
        self.expect(")")
        return And(tuple(items)) if joiner == " && " else Or(tuple(items))


def _parse_valid_source(script: Any) -> Filter | None:
    """The filter of a ``validSource`` script ``_render`` wrote (checked by writing it again); else None."""
    if not isinstance(script, dict) or set(script) != {"type", "source"} or script["type"] != _JS:
        return None
    source = str(script["source"])
    start, end = f"(function (source) {{ {_JS_FILTER_PRELUDE}return ", "; }(source))"
    if not source.startswith(start) or not source.endswith(end):
        return None
    try:
        tree = _JsFilter(source[len(start):-len(end)]).parse()
    except (ValueError, json.JSONDecodeError):
        return None
    return tree if _filter_script(tree) == script else None


def _parse_correlation(script: str) -> Correlation | None:
    """The properties of a correlation script ``_render`` wrote (any/all); None for any other script."""
    if not script.startswith(_JS_QUOTE):
        return None
    names = [json.loads(t) for t in _TERM.findall(script)]
    if not names or not all(n.endswith(" eq ") for n in names):
        return None
    names = [n.removesuffix(" eq ") for n in names]
    if script.endswith("var qry = {'_queryFilter': terms.length ? terms.join(' or ') : 'false'}; qry"):
        return Correlation(any=names)
    if script.endswith("terms.join(' and ')}; qry"):
        return Correlation(all=names)
    return None


# --- the importer -----------------------------------------------------------------------------------------


@dataclass
class _Origin:
    kind: str  # connector | mapping | application | schedule
    native_id: str  # where notes point: "mapping/x", "sync", "managed/alpha_application/<id>"
    prefix: str  # the pointer of the object inside native_id ("/mappings/3" for a sync entry)
    body: dict[str, Any]  # the tenant's object as compared (server-managed fields removed)


class _Importer:
    def __init__(self, snapshot: TenantSnapshot, environment: str, realm: str) -> None:
        self.snap = snapshot
        self.environment = environment
        self.realm = realm
        self.notes: list[ImportNote] = []
        self.covered: list[tuple[str, str]] = []
        self.esv_refs: dict[str, str] = {}  # ESV id -> the address of the connector that references it
        self.candidates: set[str] = set()  # native names of every mapping of the connectors, adopted or not
        self.names: dict[str, set[str]] = {}
        self.secrets: list[str] = []
        self.origins: dict[str, _Origin] = {}  # resource address -> where it came from
        self.connectors: dict[str, ConnectorResource] = {}
        self.mappings: dict[str, MappingResource] = {}
        self.applications: dict[str, ApplicationResource] = {}
        self.schedules: dict[str, ScheduleResource] = {}
        self.address = ""  # the connector being imported

    def note(self, native_id: str, pointer: str, reason: str, *, covers: bool = True) -> None:
        """Report a field; ``covers``: the note explains every difference at or below its pointer."""
        self.notes.append(ImportNote(native_id, pointer, reason))
        if covers:
            self.covered.append((native_id, pointer))

    def name(self, kind: str, base: str) -> str:
        taken = self.names.setdefault(kind, set())
        name, n = base, 2
        while name in taken:
            name = f"{base[:59].rstrip('-')}-{n}"
            n += 1
        taken.add(name)
        return name

    # --- connectors ---------------------------------------------------------------------------

    def run(self) -> ImportResult:
        systems: dict[str, str] = {}  # "system/Azure/" -> the connector's native id
        for native_id in sorted(self.snap.connectors):
            body = self.snap.connectors[native_id]
            ref = body.get("connectorRef")
            if isinstance(ref, dict) and ref.get("connectorName") == _MSGRAPH:
                systems[f"system/{native_id.removeprefix('provisioner.openicf/')}/"] = native_id
        inbound = self._inbound(systems)
        by_connector: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        for item in inbound:
            by_connector.setdefault(item[2]["source"].rsplit("/", 1)[0] + "/", []).append(item)
        for system, native_id in systems.items():
            connector = self._connector(native_id, dict(self.snap.connectors[native_id]),
                                        by_connector.get(system, []))
            for native, prefix, body in by_connector.get(system, []):
                self._mapping(native, prefix, body, connector)
        self._applications()
        self._schedules(systems)
        return self._finish()

    def _inbound(self, systems: Mapping[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
        """The mappings of the MS Graph connectors: (native id, pointer prefix, body); notes for the others."""
        found: list[tuple[str, str, dict[str, Any]]] = []
        candidates = [(nid, "", dict(body)) for nid, body in sorted(self.snap.mappings.items())]
        entries = (self.snap.sync or {}).get("mappings")
        if isinstance(entries, list):
            candidates += [("sync", f"/mappings/{i}", dict(e)) for i, e in enumerate(entries) if isinstance(e, dict)]
        per_mapping = {str(body.get("name") or nid.removeprefix("mapping/")) for nid, _, body in candidates if
                       nid != "sync"}
        for native_id, prefix, body in candidates:
            source, target = str(body.get("source", "")), str(body.get("target", ""))
            system = next((s for s in systems if source.startswith(s) or target.startswith(s)), None)
            if system is None:
                continue
            if prefix and str(body.get("name")) in per_mapping:
                self.note(native_id, prefix, f"not adopted: mapping/{body.get('name')} has the same name, and is the "
                          "one idmctl adopts; remove this sync entry (the plan refuses a name in both)")
                continue
            self.candidates.add(str(body.get("name") or native_id.removeprefix("mapping/")))
            if source != f"{system}User":
                what = "outbound (to the connector)" if target.startswith(system) else f"from {source}"
                self.note(native_id, prefix, f"not adopted: a mapping {what}; idmctl manages mappings from "
                          f"{system}User into managed objects only")
                continue
            if prefix:
                self.note(native_id, prefix, "in the sync document: idmctl writes mapping/<name> and refuses a "
                          "mapping of the same name inside sync; move it out of sync (export it, delete the entry, "
                          "then apply) or pin another name in spec.aic.name", covers=False)
            found.append((native_id, prefix, body))
        return found

    def _connector(self, native_id: str, body: dict[str, Any],
                   mappings: list[tuple[str, str, dict[str, Any]]]) -> ConnectorResource:
        native = native_id.removeprefix("provisioner.openicf/")
        props = body.get("configurationProperties")
        props = props if isinstance(props, dict) else {}
        meta = self.name("Connector", self._written_as(props) or _slug(native, "entra"))
        address = self.address = f"Connector.{meta}"
        esv: dict[str, str] = {}
        tenant_id = self._credential(native_id, native, props, "tenant", "tenant-id", "tenantId", esv)
        client_id = self._credential(native_id, native, props, "clientId", "client-id", "clientId", esv)
        secret = f"{meta.replace('-', '_')}_client_secret"
        self._client_secret(native_id, native, props, secret, esv)
        self.secrets.append(secret)
        page_size = 999
        sizes = [(nid, prefix, m.get("reconSourceQueryPageSize")) for nid, prefix, m in mappings]
        usable = [s for _, _, s in sizes if isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 999]
        if usable:
            page_size = usable[0]
        for nid, prefix, size in sizes:
            if size != page_size:
                self.note(nid, f"{prefix}/reconSourceQueryPageSize",
                          f"idmctl pages every mapping of connector {native} by its spec.pageSize ({page_size})")
        spec: dict[str, Any] = {"type": "microsoft-graph", "tenantId": tenant_id, "clientId": client_id,
                                "clientSecret": f"${{secret.{secret}}}", "pageSize": page_size}
        derived = "".join(part.capitalize() for part in meta.split("-"))
        aic: dict[str, Any] = {}
        if derived != native:
            aic["name"] = native
        if esv:
            aic["esv"] = esv
        if aic:
            spec["aic"] = aic
        connector = ConnectorResource.model_validate(
            {"apiVersion": API_VERSION, "kind": "Connector", "metadata": {"name": meta}, "spec": spec})
        self.connectors[meta] = connector
        live = {k: v for k, v in body.items() if k not in _SERVER_MANAGED["connector"]}
        self.origins[address] = _Origin("connector", native_id, "", live)
        return connector

    def _written_as(self, props: Mapping[str, Any]) -> str | None:
        """The connector's metadata name when idmctl wrote its ESVs (their description names it)."""
        records = [*(self.snap.variables.get(i) for i in _placeholder_ids(props, ("tenant", "clientId"))),
                   *(self.snap.secrets.get(i) for i in _placeholder_ids(props, ("clientSecret",)))]
        for record in records:
            m = _WRITTEN_BY.match(str((record or {}).get("description", "")))
            if m is not None:
                return m["name"]
        return None

    def _credential(self, native_id: str, native: str, props: Mapping[str, Any], key: str, what: str, pin: str,
                    esv: dict[str, str]) -> str:
        """The tenant or client id: an ESV variable's value (its id pinned when not idmctl's), or plaintext."""
        pointer = _ptr("configurationProperties", key)
        default_id = f"esv-idmctl-{native.lower()}-{what}"
        value = props.get(key)
        m = _PLACEHOLDER.match(value) if isinstance(value, str) else None
        if m is not None:
            esv_id = "esv-" + m.group(1).replace(".", "-")
            if esv_id != default_id:
                esv[pin] = esv_id
            self.esv_refs[esv_id] = self.address
            record = self.snap.variables.get(esv_id)
            if record is None:
                self.note(native_id, pointer, f"references the ESV variable {esv_id}, which the tenant does not "
                          f"have: spec.{pin} is 'unknown'; set it, and apply creates the variable")
                return "unknown"
            try:
                return base64.b64decode(str(record.get("valueBase64", "")), validate=True).decode("utf-8") or "unknown"
            except (binascii.Error, UnicodeDecodeError):
                self.note(esv_id, "/valueBase64", f"not base64 UTF-8 text: spec.{pin} is 'unknown'; set it")
                return "unknown"
        if isinstance(value, str) and value and "&{" not in value:
            self.note(native_id, pointer, f"a plaintext value: idmctl keeps it in the ESV variable {default_id} "
                      f"and references it as {esv_placeholder(default_id)} (a plan change, then a restart)")
            return value
        self.note(native_id, pointer, f"neither a plaintext value nor a whole ESV placeholder: spec.{pin} is "
                  "'unknown'; set it")
        return "unknown"

    def _client_secret(self, native_id: str, native: str, props: Mapping[str, Any], secret: str,
                       esv: dict[str, str]) -> None:
        pointer = _ptr("configurationProperties", "clientSecret")
        default_id = f"esv-idmctl-{native.lower()}-client-secret"
        declare = (f"declare secret {secret} in environment.yaml (fromEnv or fromFile) with the client secret's "
                   "Value: AIC never gives it back")
        value = props.get("clientSecret")
        m = _PLACEHOLDER.match(value) if isinstance(value, str) else None
        if m is not None:
            esv_id = "esv-" + m.group(1).replace(".", "-")
            if esv_id != default_id:
                esv["clientSecret"] = esv_id
            there = ("apply adds it as a new version of the ESV secret (AIC keeps the version when the value is "
                     "unchanged)" if esv_id in self.snap.secrets
                     else f"the tenant has no ESV secret {esv_id}: apply creates it, then restarts")
            self.note(native_id, pointer, f"the ESV secret {esv_id}: {declare}; {there}")
            return
        how = ("encrypted ($crypto)" if isinstance(value, dict) and "$crypto" in value
               else "a plaintext value (not shown)" if isinstance(value, str) and value else "not set")
        self.note(native_id, pointer, f"{how}: {declare}; idmctl keeps it in the ESV secret {default_id} and the "
                  f"connector references {esv_placeholder(default_id)} (a plan change, then a restart)")

    # --- mappings -----------------------------------------------------------------------------

    def _mapping(self, native_id: str, prefix: str, body: dict[str, Any], connector: ConnectorResource) -> None:
        native = str(body.get("name") or native_id.removeprefix("mapping/"))
        where = native_id if not prefix else f"sync entry {native}"
        target = str(body.get("target", ""))
        if not _TARGET.match(target) or target not in MANAGED_TYPES:
            self.note(native_id, f"{prefix}/target", f"not adopted: idmctl maps into {', '.join(MANAGED_TYPES)} "
                      f"only, not {target or 'nothing'}")
            return
        managed = MANAGED_TYPES[target]
        spec: dict[str, Any] = {"source": {"connector": connector.metadata.name, "objectType": "User"},
                                "target": target}
        spec["properties"] = self._properties(native_id, prefix, body.get("properties"), managed.properties)
        if not spec["properties"]:
            self.note(native_id, f"{prefix}/properties", "not adopted: no property mapping idmctl can express")
            return
        targets = {p["target"] for p in spec["properties"]}
        correlation = self._correlation(native_id, prefix, body, spec["properties"], targets)
        if correlation is False:
            return
        if correlation is not None:
            spec["correlation"] = correlation
        scope = self._scope(native_id, prefix, body)
        if scope is False:
            return
        if scope is not None:
            spec["sourceFilter"] = scope
        if "validSource" in body:
            valid = _parse_valid_source(body["validSource"])
            problem = self._filter_problem(valid)
            if problem is not None:
                self.note(native_id, f"{prefix}/validSource", f"not adopted: {problem}, and without it the mapping "
                          "would consider every account valid")
                return
            spec["validSource"] = str(valid)
        run_target = body.get("runTargetPhase", False)
        spec["targetScope"] = "all" if run_target is True else "linked"
        spec["policies"] = self._policies(native_id, prefix, body.get("policies"))
        meta = self.name("Mapping", f"{connector.metadata.name[:57]}-users")
        resource = MappingResource.model_validate(
            {"apiVersion": API_VERSION, "kind": "Mapping", "metadata": {"name": meta}, "spec": spec})
        resources = ResourceSet(environment=self._environment(), connectors=dict(self.connectors))
        if mapping_name(resource, resources) != native:
            resource = MappingResource.model_validate(
                {"apiVersion": API_VERSION, "kind": "Mapping", "metadata": {"name": meta},
                 "spec": {**spec, "aic": {"name": native}}})
        if native_id.startswith("mapping/") and native != native_id.removeprefix("mapping/"):
            self.note(native_id, f"{prefix}/name", f"the mapping is named {native!r} inside {where}: idmctl writes "
                      f"mapping/{native}")
        self.mappings[meta] = resource
        live = {k: v for k, v in body.items() if k not in _SERVER_MANAGED["mapping"]}
        self.origins[f"Mapping.{meta}"] = _Origin("mapping", native_id, prefix, live)

    def _properties(self, native_id: str, prefix: str, items: Any, known: frozenset[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if not isinstance(items, list):
            return out
        for i, item in enumerate(items):
            p = f"{prefix}/properties/{i}"
            if not isinstance(item, dict):
                self.note(native_id, p, "not a property mapping")
                continue
            target, source = item.get("target"), item.get("source")
            prop: dict[str, Any] = {"target": target}
            if source is not None:
                prop["source"] = _graph_attr(str(source))
            if item.get("default") is not None:
                prop["default"] = item["default"]
            problem = None
            graph = graph_user_problem(prop["source"]) if source else None
            if not isinstance(target, str) or target not in known:
                problem = f"{target!r} is not a property of the target idmctl knows"
            elif source == "":
                problem = "the transform reads the whole source object (source \"\"): idmctl maps one attribute each"
            elif graph is not None:
                problem = graph[0]
            elif any(o["target"] == target for o in out):
                problem = f"{target!r} is mapped twice: idmctl maps each property once"
            elif source is None and "default" not in prop:
                problem = "neither a source nor a default"
            if problem is not None:
                self.note(native_id, p, f"not adopted: {problem}")
                continue
            for key in sorted(set(item) - {"source", "target", "transform", "default"}):
                what = _PROPERTY_FIELDS.get(key, "a field idmctl has no place for")
                self.note(native_id, f"{p}/{key}", f"{what}; imported without it")
            if "transform" in item:
                transform = item["transform"]
                parsed = None
                if isinstance(transform, dict) and set(transform) == {"type", "source"} and transform["type"] == _JS:
                    parsed = _parse_transform(transform["source"])
                if parsed is not None and _render_property(PropertyMapping.model_validate(
                        {**prop, "transform": parsed})).get("transform") == transform:
                    prop["transform"] = parsed
                else:
                    self.note(native_id, f"{p}/transform", "a transform script that is not one of idmctl's "
                              "(lower, upper, trim, map): imported without it, so apply writes the value "
                              "untransformed; express it as a transform or keep this mapping out of idmctl")
            out.append(PropertyMapping.model_validate(prop).model_dump(mode="json", exclude_defaults=True)
                       | {"target": target})
        return out

    def _correlation(self, native_id: str, prefix: str, body: Mapping[str, Any], props: list[dict[str, Any]],
                     targets: set[str]) -> dict[str, Any] | None | bool:
        """spec.correlation, None when the mapping has none, False when it cannot be adopted."""
        if "correlationScript" in body:
            self.note(native_id, f"{prefix}/correlationScript", "not adopted: a correlation script idmctl cannot "
                      "express, and without it every unlinked account would be created anew")
            return False
        query = body.get("correlationQuery")
        if query is None:
            return None
        entries = query if isinstance(query, list) else [query]
        entry = entries[0] if len(entries) == 1 and isinstance(entries[0], dict) else {}
        script = str(entry.get("source", "")) if entry.get("type") == _JS else ""
        if entry.get("linkQualifier", "default") != "default":
            script = ""
        parsed = _parse_correlation(script)
        if parsed is not None and set(parsed.any or parsed.all or []) <= targets:
            return parsed.model_dump(mode="json", exclude_none=True)
        m = _CONSOLE_CORRELATION.match(script)
        if m is not None and any(p["target"] == m["target"] and p.get("source") == m["source"]
                                 and "transform" not in p for p in props):
            self.note(native_id, f"{prefix}/correlationQuery/0/source",
                      f"the console's correlation ({m['target']} equals source {m['source']}): idmctl writes its "
                      "own script for correlation any: [" + m["target"] + "] (the value quoted and escaped, a null "
                      "matching nothing), a plan change")
            return {"any": [m["target"]]}
        self.note(native_id, f"{prefix}/correlationQuery", "not adopted: a correlation script idmctl cannot express, "
                  "and without it every unlinked account would be created anew")
        return False

    def _filter_problem(self, tree: Filter | None) -> str | None:
        if tree is None:
            return "a script or filter idmctl's filter language cannot read"
        for attr in sorted(filter_attributes(tree)):
            problem = graph_user_problem(attr)
            if problem is not None:
                return f"the filter reads {attr!r}: {problem[0]}"
        return None

    def _scope(self, native_id: str, prefix: str, body: Mapping[str, Any]) -> str | None | bool:
        """spec.sourceFilter from sourceQuery and sourceCondition; None when neither; False: not adoptable."""
        query, condition = body.get("sourceQuery"), body.get("sourceCondition")
        if query is None and condition is None:
            return None
        text = None
        if query is not None:
            if isinstance(query, dict) and set(query) == {"_queryFilter"} and isinstance(query["_queryFilter"], str):
                text = query["_queryFilter"]
            where = f"{prefix}/sourceQuery"
        else:
            text = condition.replace("/source/", "") if isinstance(condition, str) else None
            where = f"{prefix}/sourceCondition"
        tree = _parse_query(text) if text is not None else None
        problem = self._filter_problem(tree)
        if problem is not None or tree is None:
            self.note(native_id, where, f"not adopted: the source scope is {problem}, and without it the mapping "
                      "would reconcile every account of the tenant")
            return False
        if query is None:
            self.note(native_id, f"{prefix}/sourceQuery", "absent: idmctl writes sourceQuery with sourceCondition "
                      "from one spec.sourceFilter (a plan change; full runs read only the accounts in scope)")
        elif query_filter(tree) != text:
            self.note(native_id, f"{prefix}/sourceQuery/_queryFilter", "idmctl writes the same filter in its "
                      f"canonical form, {query_filter(tree)!r} (a plan change)")
        if condition is None:
            self.note(native_id, f"{prefix}/sourceCondition", "absent, so liveSync runs are not filtered: idmctl "
                      "adds it from the same spec.sourceFilter (a plan change)")
        elif condition != query_filter(tree, "/source/"):
            self.note(native_id, f"{prefix}/sourceCondition", "not what sourceQuery says: idmctl writes both from "
                      "one spec.sourceFilter, the sourceQuery's (a plan change)")
        return str(tree)

    def _policies(self, native_id: str, prefix: str, items: Any) -> dict[str, Any]:
        actions: dict[Situation, Action] = {}
        listed: list[Situation] = []
        fallbacks: list[tuple[str, Situation, str]] = []
        for i, item in enumerate(items if isinstance(items, list) else []):
            p = f"{prefix}/policies/{i}"
            if not isinstance(item, dict):
                self.note(native_id, p, "not a policy")
                continue
            for key in sorted(set(item) - {"situation", "action"}):
                self.note(native_id, f"{p}/{key}", f"a policy's {key} (a script): idmctl has none")
            situation, action = str(item.get("situation")), item.get("action")
            if situation not in Situation.__members__:
                self.note(native_id, f"{p}/situation", f"{situation} is an AIC situation idmctl does not know: "
                          "the plan drops this policy")
                continue
            known = Situation(situation)
            listed.append(known)
            if isinstance(action, dict):
                fallbacks.append((f"{p}/action", known, "a script action: idmctl's policies name an action"))
            elif not isinstance(action, str) or action not in Action.__members__:
                fallbacks.append((f"{p}/action", known, f"{action} is not one of idmctl's actions "
                                  f"({', '.join(Action)})"))
            elif known in actions:
                self.note(native_id, p, f"a second policy for {situation}: idmctl keeps the first")
            elif (known in NO_SOURCE and Action(action) in _NEEDS_SOURCE) or (
                    known in NO_TARGET and Action(action) in _NEEDS_TARGET):
                fallbacks.append((f"{p}/action", known, f"{situation} cannot {action} (there is nothing to act on)"))
            else:
                actions[known] = Action(action)
        tables = {base: SituationPolicy(base).table() for base in ("default", "read-only")}

        def changes(base: str) -> dict[str, str]:
            return {str(s): str(a) for s, a in actions.items() if tables[base][str(s)] != str(a)}

        base = min(("default", "read-only"), key=lambda b: len(changes(b)))
        for pointer, known, why in fallbacks:
            self.note(native_id, pointer, f"{why}: {known} takes the {base} policy's "
                      f"{tables[base][str(known)]} (policies.base {base})")
        for situation in _SITUATION_ORDER:
            if situation not in listed:
                self.note(native_id, f"{prefix}/policies", f"no policy for {situation}: IDM's default applies; "
                          f"idmctl writes it explicitly ({tables[base][str(situation)]})")
        if [s for s in listed if s in _SITUATION_ORDER] != [s for s in _SITUATION_ORDER if s in listed]:
            self.note(native_id, f"{prefix}/policies", "idmctl writes the policies in the console's order")
        return PolicySpec.model_validate({"base": base, "rules": changes(base)}).model_dump(mode="json")

    # --- applications and schedules ---------------------------------------------------------

    def _applications(self) -> None:
        by_native = {connector_name(c): c for c in self.connectors.values()}
        for native_id in sorted(self.snap.applications):
            body = dict(self.snap.applications[native_id])
            connector = by_native.get(str(body.get("connectorId")))
            if connector is None:
                continue
            app_id = str(body.get("_id") or native_id.rsplit("/", 1)[-1])
            name = str(body.get("name") or connector_name(connector))
            meta = self.name("Application", _slug(name, "application"))
            description = body.get("description")
            metadata: dict[str, Any] = {"name": meta}
            if isinstance(description, str) and description and description != name:
                metadata["description"] = description
            owners, live_owners = self._owners(native_id, body.get("owners"))
            spec: dict[str, Any] = {"displayName": name, "connector": connector.metadata.name,
                                    "authoritative": body.get("authoritative") is True, "owners": owners}
            data = {"apiVersion": API_VERSION, "kind": "Application", "metadata": metadata, "spec": spec}
            if application_id(ApplicationResource.model_validate(data), self.environment) != app_id:
                if re.match(AIC_APPLICATION_ID_PATTERN, app_id):
                    spec["aic"] = {"id": app_id}
                else:
                    self.note(native_id, "/_id", "not a lower-case UUID, which idmctl's application ids are: apply "
                              "creates a second application")
            self.applications[meta] = ApplicationResource.model_validate(data)
            live = {k: v for k, v in body.items() if k not in _SERVER_MANAGED["application"]}
            if live_owners is not None:
                live["owners"] = live_owners
            self.origins[f"Application.{meta}"] = _Origin("application", native_id, "", live)

    def _owners(self, native_id: str, items: Any) -> tuple[list[str], list[Any] | None]:
        """The owners' userNames, and the tenant's owners as idmctl compares them (placeholders, no metadata)."""
        if not isinstance(items, list):
            return [], None
        names: list[str] = []
        live: list[Any] = []
        for i, item in enumerate(items):
            ref = str(item.get("_ref", "")) if isinstance(item, dict) else ""
            placeholder, by_id = _OWNER_PLACEHOLDER.match(ref), _USER_REF.match(ref)
            user = (placeholder["user"] if placeholder is not None and placeholder["realm"] == self.realm
                    else self.snap.users.get(by_id["id"]) if by_id is not None and by_id["realm"] == self.realm
                    else None)
            if user is None:
                self.note(native_id, f"/owners/{i}", f"an owner that is not a {self.realm}_user idmctl can find by "
                          "userName: the plan removes it")
                live.append(item)
                continue
            names.append(user)
            view = {k: v for k, v in item.items() if not k.startswith("_ref") or k in ("_ref", "_refProperties")}
            view["_ref"] = f"managed/{self.realm}_user/{{userName={user}}}"
            if isinstance(view.get("_refProperties"), dict):
                view["_refProperties"] = {k: v for k, v in view["_refProperties"].items() if k not in ("_id", "_rev")}
            live.append(view)
        return names, live

    def _schedules(self, systems: Mapping[str, str]) -> None:
        by_native = {mapping_name(m, self._resources()): m for m in self.mappings.values()}
        by_connector: dict[str, list[MappingResource]] = {}
        for m in sorted(self.mappings.values(), key=lambda m: m.metadata.name):
            by_connector.setdefault(m.spec.source.connector, []).append(m)
        natives = {f"system/{connector_name(c)}/User": c.metadata.name for c in self.connectors.values()}
        for native_id in sorted(self.snap.schedules):
            body = dict(self.snap.schedules[native_id])
            context = body.get("invokeContext")
            context = context if isinstance(context, dict) else {}
            mapping: MappingResource | None = None
            if body.get("invokeService") == "sync" and context.get("action") == "reconcile":
                if str(context.get("mapping")) not in by_native:
                    if str(context.get("mapping")) in self.candidates:
                        self.note(native_id, "", "not adopted: it runs a mapping idmctl did not adopt")
                    continue
                mapping, mode = by_native[str(context["mapping"])], "full"
            elif body.get("invokeService") == "provisioner" and context.get("action") == "liveSync":
                source = str(context.get("source", ""))
                if not any(source.startswith(s) for s in systems):
                    continue
                candidates = by_connector.get(natives.get(source, ""), [])
                if not candidates:
                    self.note(native_id, "", f"not adopted: a liveSync of {source}, which no adopted mapping reads")
                    continue
                mapping, mode = candidates[0], "incremental"
                if len(candidates) > 1:
                    self.note(native_id, "/invokeContext", f"one liveSync serves every mapping of {source}: "
                              f"Schedule names {mapping.metadata.name}")
            else:
                continue
            self._schedule(native_id, body, mapping, mode)

    def _schedule(self, native_id: str, body: dict[str, Any], mapping: MappingResource, mode: str) -> None:
        native = native_id.removeprefix("schedule/")
        cron = body.get("schedule")
        try:
            parse_cron(str(cron))
        except CronSyntaxError:
            self.note(native_id, "/schedule", "not adopted: not a Quartz cron expression idmctl can read (an ESV "
                      "placeholder, or a simple schedule)")
            return
        if body.get("type", "cron") != "cron":
            self.note(native_id, "/type", "not adopted: idmctl's schedules are cron schedules")
            return
        spec: dict[str, Any] = {"mapping": mapping.metadata.name, "mode": mode, "cron": str(cron)}
        zone = body.get("timeZone")
        if isinstance(zone, str):
            try:
                resolve_zone(zone)
                spec["timeZone"] = zone
            except (ValueError, KeyError, OSError):
                self.note(native_id, "/timeZone", f"{zone!r} is not an IANA time zone: idmctl writes UTC")
        enabled = body.get("enabled", True)
        if isinstance(enabled, bool):
            spec["enabled"] = enabled
        else:
            self.note(native_id, "/enabled", "not a boolean (an ESV placeholder?): idmctl writes true")
        misfire = body.get("misfirePolicy")
        if misfire in ("fireAndProceed", "doNothing"):
            spec["misfirePolicy"] = misfire
        meta = self.name("Schedule", _slug(native, "schedule"))
        if meta != native:
            spec["aic"] = {"name": native}
        resource = ScheduleResource.model_validate(
            {"apiVersion": API_VERSION, "kind": "Schedule", "metadata": {"name": meta}, "spec": spec})
        if schedule_name(resource) == native:
            self.schedules[meta] = resource
            live = {k: v for k, v in body.items() if k not in _SERVER_MANAGED["schedule"]}
            self.origins[f"Schedule.{meta}"] = _Origin("schedule", native_id, "", live)

    # --- the check: render what was built and compare it with the tenant ------------------------------

    def _environment(self) -> EnvironmentResource:
        return EnvironmentResource.model_validate(
            {"apiVersion": API_VERSION, "kind": "Environment", "metadata": {"name": self.environment}})

    def _resources(self) -> ResourceSet:
        return ResourceSet(environment=self._environment(), connectors=dict(self.connectors),
                           applications=dict(self.applications), mappings=dict(self.mappings),
                           schedules=dict(self.schedules))

    def _covered(self, native_id: str, pointer: str) -> bool:
        return any(nid == native_id and (pointer == p or pointer.startswith(p + "/") or p.startswith(pointer + "/"))
                   for nid, p in self.covered)

    def _compare(self, kind: str, native_id: str, prefix: str, live: Any, rendered: Any) -> None:
        for pointer, tenant_has, idmctl_has in _diff(live, rendered):
            full = prefix + pointer
            if self._covered(native_id, full):
                continue
            head = _token(pointer)
            reason = _REASONS.get(kind, {}).get(head) or (
                f"an event script ({head}): idmctl runs no scripts of its own" if kind == "mapping" and head in _EVENTS
                else "idmctl has no field for it")
            value = _value_at(rendered, pointer) if idmctl_has else None
            shown = f" ({_show(value)})" if idmctl_has and not isinstance(value, dict | list) else ""
            if not idmctl_has:
                effect = "the plan removes it"
            elif not tenant_has:
                effect = f"the plan adds it{shown}"
            else:
                current = _value_at(live, pointer)
                was = ("" if isinstance(current, dict | list) or _sensitive(pointer)
                       else f" (the tenant has {_show(current)})")
                effect = f"the plan sets idmctl's value{shown}{was}"
            self.notes.append(ImportNote(native_id, full, f"{reason}: {effect}"))

    def _finish(self) -> ImportResult:
        resources = self._resources()
        rendering = render_resources(resources, self.realm)
        for obj in rendering.objects:
            if obj.kind in ("variable", "secret"):
                records = self.snap.variables if obj.kind == "variable" else self.snap.secrets
                record = records.get(obj.id)
                if record is not None:
                    live = {k: v for k, v in record.items() if k not in _SERVER_MANAGED[obj.kind]}
                    self._compare(obj.kind, obj.id, "", live, obj.body)
                continue
            origin = self.origins[obj.address]
            self._compare(origin.kind, origin.native_id, origin.prefix, origin.body, obj.body)
        ordered: list[Resource] = [*resources.connectors.values(), *resources.mappings.values(),
                                   *resources.applications.values(), *resources.schedules.values()]
        notes = sorted(dict.fromkeys(self.notes), key=lambda n: (n.native_id, n.pointer))
        sources = {address: origin.native_id for address, origin in self.origins.items()}
        prefixes = {address: origin.prefix for address, origin in self.origins.items() if origin.prefix}
        esvs = {obj.id: obj.address for obj in rendering.objects if obj.kind in ("variable", "secret")}
        for native_id, address in self.esv_refs.items():
            esvs.setdefault(native_id, address)
        return ImportResult(self.environment, self.realm, tuple(ordered), tuple(notes), tuple(self.secrets),
                            sources, prefixes, esvs)


def import_tenant(objects: TenantSnapshot, *, environment: str, realm: str = DEFAULT_REALM) -> ImportResult:
    """The idmctl resources ``objects`` come from, as ``render_resources`` would render them back, and a note
    for every field it would not render the same (``ImportNote``: native id, JSON pointer, reason)."""
    return _Importer(objects, environment, realm).run()


# --- reading a tenant -------------------------------------------------------------------------------------


def _placeholder_ids(props: Mapping[str, Any], keys: Iterable[str]) -> Iterator[str]:
    for key in keys:
        value = props.get(key)
        m = _PLACEHOLDER.match(value) if isinstance(value, str) else None
        if m is not None:
            yield "esv-" + m.group(1).replace(".", "-")


def read_snapshot(tenant: TenantApi) -> TenantSnapshot:
    """Read what ``import_tenant`` needs: the MS Graph connectors, the mappings that read or write them,
    ``sync``, the schedules, the applications of the connectors, their ESVs and the owners' userNames."""
    connectors = {str(b["_id"]): b for b in tenant.query_config("provisioner.openicf/")
                  if isinstance(b.get("connectorRef"), dict) and b["connectorRef"].get("connectorName") == _MSGRAPH}
    systems = tuple(f"system/{cid.removeprefix('provisioner.openicf/')}/" for cid in connectors)

    def ours(body: Mapping[str, Any]) -> bool:
        return str(body.get("source", "")).startswith(systems) or str(body.get("target", "")).startswith(systems)

    mappings = {str(b["_id"]): b for b in tenant.query_config("mapping/") if systems and ours(b)}
    names = {str(b.get("name") or str(b["_id"]).removeprefix("mapping/")) for b in mappings.values()}
    sync = tenant.read_config("sync")
    for entry in (sync or {}).get("mappings", []) or []:
        if isinstance(entry, dict) and systems and ours(entry):
            names.add(str(entry.get("name")))
    schedules: dict[str, JsonObject] = {}
    for body in tenant.query_config("schedule/"):
        context = body.get("invokeContext")
        context = context if isinstance(context, dict) else {}
        if str(context.get("mapping")) in names or (systems and str(context.get("source", "")).startswith(systems)):
            schedules[str(body["_id"])] = body
    realm = tenant.realm
    native_names = {cid.removeprefix("provisioner.openicf/") for cid in connectors}
    applications: dict[str, JsonObject] = {}
    if native_names:
        for body in tenant.query_managed(f"{realm}_application", "true", fields=("*", "owners")):
            if body.get("connectorId") in native_names:
                applications[f"managed/{realm}_application/{body['_id']}"] = body
    variables: dict[str, JsonObject] = {}
    secrets: dict[str, JsonObject] = {}
    for body in connectors.values():
        props = body.get("configurationProperties") or {}
        for esv_id in _placeholder_ids(props, ("tenant", "clientId")):
            record = tenant.read_variable(esv_id)
            if record is not None:
                variables[esv_id] = record
        for esv_id in _placeholder_ids(props, ("clientSecret",)):
            meta = tenant.read_secret(esv_id)
            if meta is not None:
                secrets[esv_id] = meta
    users: dict[str, str] = {}
    for body in applications.values():
        for item in body.get("owners") or []:
            m = _USER_REF.match(str(item.get("_ref", ""))) if isinstance(item, dict) else None
            if m is not None and m["realm"] == realm and m["id"] not in users:
                user = tenant.read_managed(f"{realm}_user/{m['id']}")
                if user is not None and isinstance(user.get("userName"), str):
                    users[m["id"]] = user["userName"]
    return TenantSnapshot(connectors=connectors, mappings=mappings, sync=sync, schedules=schedules,
                          applications=applications, variables=variables, secrets=secrets, users=users,
                          tenant_url=tenant.tenant_url)
