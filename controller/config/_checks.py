"""Checks beyond the schema: references, unique names, managed properties, policies, filters, cron.

Every check returns diagnostics with the position of the offending value, so that `idmctl validate`
can list all problems at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from controller.config._resolve import URL_CREDENTIALS, Resolution, hide_url_credentials
from controller.config._resources import describe_secret_source, read_secret_source
from controller.config._yaml import Document, escape_pointer
from controller.config.graph_user import did_you_mean, graph_user_problem
from controller.config.managed import MANAGED_TYPES
from controller.config.models import (
    AIC_APPLICATION_ID_PATTERN,
    AIC_CONNECTOR_NAME_PATTERN,
    AIC_MAPPING_NAME_PATTERN,
    AIC_SCHEDULE_NAME_PATTERN,
    Action,
    AicPlatformSpec,
    PostgresStateSpec,
    Situation,
    SqliteStateSpec,
)
from controller.cron import lint, parse_cron
from controller.diagnostics import Diagnostic, SourcePos
from controller.errors import CronSyntaxError, FilterSyntaxError
from controller.filters import filter_attributes, parse_filter, to_graph

__all__ = ["NO_SOURCE", "NO_TARGET", "Located", "semantic_checks"]

# Situations in which there is no source object to map from (CREATE, UPDATE or LINK impossible)...
NO_SOURCE = frozenset({Situation.SOURCE_MISSING, Situation.LINK_ONLY, Situation.ALL_GONE,
                       Situation.UNASSIGNED, Situation.TARGET_IGNORED})
# ...and those with no target object or link to act on (UPDATE, DELETE, UNLINK, LINK impossible).
NO_TARGET = frozenset({Situation.ABSENT, Situation.SOURCE_IGNORED, Situation.ALL_GONE})
_NEEDS_SOURCE = frozenset({Action.CREATE, Action.UPDATE, Action.LINK})
_NEEDS_TARGET = frozenset({Action.UPDATE, Action.DELETE, Action.UNLINK, Action.LINK})


@dataclass
class Located:
    """A validated resource and the document it came from (for positions)."""

    model: Any
    doc: Document
    resolution: Resolution = field(default_factory=Resolution)

    def related(self, pointer: str) -> tuple[SourcePos, ...]:
        """Where the variable that produced the value at ``pointer`` is defined, if one did."""
        origin = self.resolution.from_variable.get(pointer)
        return (origin[1],) if origin else ()

    @property
    def kind(self) -> str:
        return str(self.model.kind)

    @property
    def name(self) -> str:
        return str(self.model.metadata.name)


def semantic_checks(items: list[Located], root: Path, env_name: str, *,
                    failed: dict[str, set[str]] | None = None, unreadable: bool = False) -> list[Diagnostic]:
    """Checks across resources. ``failed``: kind ("*" for any) -> names of resources that did not
    validate ("" when unnamed); ``unreadable``: some file did not parse. References to those are not
    called dangling."""
    failed = failed or {}
    diags: list[Diagnostic] = []
    by_kind: dict[str, dict[str, Located]] = {}
    for item in items:
        names = by_kind.setdefault(item.kind, {})
        if item.name in names:
            first = names[item.name]
            diags.append(Diagnostic(
                "error", f"duplicate {item.kind} name {item.name!r}",
                "Names are unique per kind; rename one of them",
                item.doc.pos("/metadata/name"), "/metadata/name",
                related=(first.doc.pos("/metadata/name"),)))
        else:
            names[item.name] = item

    def ref(item: Located, pointer: str, kind: str, value: str) -> None:
        broken = failed.get(kind, set()) | failed.get("*", set())
        if unreadable or value in broken or "" in broken:  # "": a broken resource without a name
            return
        if value not in by_kind.get(kind, {}):
            known = ", ".join(sorted(by_kind.get(kind, {}))) or "none"
            diags.append(Diagnostic(
                "error", f"{kind} {value!r} does not exist",
                f"Use the metadata.name of a {kind} in this environment (defined: {known})",
                item.doc.pos(pointer), pointer, related=item.related(pointer)))

    for item in by_kind.get("Environment", {}).values():
        if item.name != env_name:
            diags.append(Diagnostic(
                "error", f"Environment is named {item.name!r} but lives in environments/{env_name}/",
                f"Set metadata.name: {env_name}", item.doc.pos("/metadata/name"), "/metadata/name"))
        diags.extend(_check_environment_spec(item, root))
        diags.extend(_check_variables(item))
        for name, source in item.model.spec.secrets.items():
            p = f"/spec/secrets/{name}"
            if bool(source.fromEnv) == bool(source.fromFile):
                diags.append(Diagnostic("error", f"secret {name!r} needs exactly one of fromEnv or fromFile",
                                        "Example: {fromEnv: ENTRA_CLIENT_SECRET}", item.doc.pos(p), p))
            elif read_secret_source(source, root) is None:
                # Not an error: a pull request from a fork validates without production secrets.
                diags.append(Diagnostic(
                    "info", f"secret {name!r} is not available here ({describe_secret_source(source)}): "
                    "not checked", "Runs and `connector test` need it; plans show it as (sensitive, not checked)",
                    item.doc.pos(p), p))

    for item in by_kind.get("Connector", {}).values():
        ca = item.model.spec.caBundle
        # Relative to the repository root, as the connector resolves it (never the working directory).
        if ca and not (root / Path(ca).expanduser()).is_file():
            diags.append(Diagnostic(
                "warning", f"caBundle {ca!r} does not exist (yet)",
                "It must exist when the connector is used (the emulator writes its CA when it starts)",
                item.doc.pos("/spec/caBundle"), "/spec/caBundle"))

    for item in by_kind.get("Application", {}).values():
        ref(item, "/spec/connector", "Connector", item.model.spec.connector)

    for item in by_kind.get("Schedule", {}).values():
        ref(item, "/spec/mapping", "Mapping", item.model.spec.mapping)
        diags.extend(_check_schedule(item))

    for item in by_kind.get("Mapping", {}).values():
        ref(item, "/spec/source/connector", "Connector", item.model.spec.source.connector)
        diags.extend(_check_mapping(item, by_kind.get("Mapping", {})))
    diags.extend(_check_aic_names(by_kind))
    diags.extend(_check_aic_schedules(by_kind))
    return diags


# The only situation IDM's engine defaults delete for (UNQUALIFIED -> DELETE, controller.recon.DEFAULT_ACTIONS;
# a test keeps the two in step): config sits below recon, so the fact is repeated here.
_DEFAULT_DESTRUCTIVE = frozenset({"UNQUALIFIED"})
_DESTRUCTIVE_ACTIONS = frozenset({"DELETE", "UNLINK"})


def _can_delete(spec: Any) -> bool:
    """Whether a mapping's policies delete or unlink for some situation."""
    rules = {str(k): str(v) for k, v in (spec.policies.rules.items() if spec.policies else ())}
    if any(action in _DESTRUCTIVE_ACTIONS for action in rules.values()):
        return True
    base = spec.policies.base if spec.policies else "default"
    return base == "default" and any(s not in rules for s in _DEFAULT_DESTRUCTIVE)


def _check_aic_schedules(by_kind: dict[str, dict[str, Located]]) -> list[Diagnostic]:
    """On the aic platform the tenant fires schedules itself: a full recon whose policies delete is unguarded."""
    if not any(isinstance(e.model.spec.platform, AicPlatformSpec) for e in by_kind.get("Environment", {}).values()):
        return []
    diags: list[Diagnostic] = []
    for item in by_kind.get("Schedule", {}).values():
        spec = item.model.spec
        mapping = by_kind.get("Mapping", {}).get(spec.mapping)
        if spec.mode != "full" or not spec.enabled or mapping is None or not _can_delete(mapping.model.spec):
            continue
        diags.append(Diagnostic(
            "warning", f"schedule {item.name!r} runs a full reconciliation of {spec.mapping!r} on the AIC tenant, "
            "whose policies can delete or unlink: the tenant fires it, so idmctl's safety guard (maxDeletes, "
            "maxDeletePercent, allowEmptySource) never checks it",
            "Make it `mode: incremental` (a liveSync), or run full reconciliations with `idmctl reconcile`, "
            "which analyses them first", item.doc.pos("/spec/mode"), "/spec/mode"))
    return diags


# Pinned native AIC names (spec.aic): the syntax AIC accepts in every place it uses the name.
_AIC_NAME_RULES: dict[str, tuple[str, str, str]] = {
    "Connector": ("name", AIC_CONNECTOR_NAME_PATTERN, "a letter, then up to 63 letters, digits or '_' (e.g. Entra)"),
    "Mapping": ("name", AIC_MAPPING_NAME_PATTERN,
                "a letter, then up to 127 letters, digits or '_' (e.g. systemEntraUser_managedAlpha_user)"),
    "Schedule": ("name", AIC_SCHEDULE_NAME_PATTERN,
                 "1-128 letters, digits, ' ', '.', '_' or '-', starting and ending with a letter or digit"),
    "Application": ("id", AIC_APPLICATION_ID_PATTERN,
                    "a lower-case UUID such as 0f357b7e-6c54-4351-a094-43916877d7e5"),
}


def _check_aic_names(by_kind: dict[str, dict[str, Located]]) -> list[Diagnostic]:
    """A pinned AIC name AIC would reject (or that would address another object), and two resources of
    one kind pinning the same native name (the second PUT would overwrite the first: PUT is an upsert)."""
    diags: list[Diagnostic] = []
    for kind, (attr, pattern, rule) in _AIC_NAME_RULES.items():
        seen: dict[str, Located] = {}
        for item in by_kind.get(kind, {}).values():
            naming = getattr(item.model.spec, "aic", None)
            value = getattr(naming, attr, None) if naming is not None else None
            if value is None:
                continue
            p = f"/spec/aic/{attr}"
            if not re.match(pattern, value):
                diags.append(Diagnostic(
                    "error", f"AIC would reject the native {kind.lower()} {attr} {value!r}",
                    f"spec.aic.{attr} must be {rule}; or remove it to use the derived one",
                    item.doc.pos(p), p, related=item.related(p)))
                continue
            key = value.lower() if kind != "Schedule" else value
            if key in seen:
                diags.append(Diagnostic(
                    "error", f"{kind}s {seen[key].name!r} and {item.name!r} both pin the AIC {attr} {value!r}",
                    "Each resource needs its own native object: change or remove one spec.aic." + attr,
                    item.doc.pos(p), p, related=(seen[key].doc.pos(p),)))
            else:
                seen[key] = item
    return diags


# State backends and platforms the schema describes but this version cannot use yet.
AVAILABLE_BACKENDS = frozenset({"sqlite", "postgres"})
AVAILABLE_PLATFORMS = frozenset({"embedded", "aic"})


def _check_environment_spec(item: Located, root: Path) -> list[Diagnostic]:
    """The old ``target:`` form (a warning with the new form to paste), backends/platforms not built yet,
    and a state file outside the repository."""
    diags: list[Diagnostic] = []
    doc, spec = item.doc, item.model.spec
    if isinstance(spec.state, SqliteStateSpec) and spec.state.path:
        diags.extend(_check_state_path(spec.state.path, root, item))
    raw = doc.data.get("spec") if isinstance(doc.data, dict) else None
    if isinstance(raw, dict) and raw.get("target") is not None:
        path = spec.state.path if isinstance(spec.state, SqliteStateSpec) else None
        state = "{backend: sqlite}" if path is None else f"{{backend: sqlite, path: {path}}}"
        diags.append(Diagnostic(
            "warning", "spec.target is the old form; it reads as a sqlite state backend and the embedded platform",
            f"Replace it with:  state: {state}  and  platform: {{type: embedded}}",
            doc.pos("/spec/target"), "/spec/target"))
    if spec.state.backend not in AVAILABLE_BACKENDS:
        diags.append(Diagnostic(
            "error", f"state backend {spec.state.backend!r} is not available in this version of idmctl",
            f"Use state: {{backend: sqlite, path: .idmctl/{item.name}.db}} for now",
            doc.pos("/spec/state/backend"), "/spec/state/backend"))
    if spec.platform.type not in AVAILABLE_PLATFORMS:
        diags.append(Diagnostic(
            "error", f"platform {spec.platform.type!r} is not available in this version of idmctl",
            "Use platform: {type: embedded} for now", doc.pos("/spec/platform/type"), "/spec/platform/type"))
    declared = set(spec.secrets)
    refs = [("/spec/state/password", spec.state.password if isinstance(spec.state, PostgresStateSpec) else None),
            ("/spec/platform/serviceAccountKey",
             spec.platform.serviceAccountKey if isinstance(spec.platform, AicPlatformSpec) else None)]
    for pointer, ref in refs:
        if ref is not None and ref[len("${secret."):-1] not in declared:
            diags.append(Diagnostic(
                "error", f"{ref} is not declared under spec.secrets",
                f"Declare it: secrets: {{{ref[len('${secret.'):-1]}: {{fromEnv: NAME}}}}", doc.pos(pointer), pointer))
    return diags


def _check_state_path(path: str, root: Path, item: Located) -> list[Diagnostic]:
    """A relative state path that climbs out of the repository is a warning (a pull request could aim
    `apply` at any file the runner may write); an absolute one is what a runner's persistent disk uses."""
    pointer = "/spec/state/path"
    given = Path(path).expanduser()
    resolved = (given if given.is_absolute() else root / given).resolve()
    if resolved.is_relative_to(root.resolve()):
        return []
    if given.is_absolute():
        return [Diagnostic("info", f"the state lives outside the repository, at {resolved}",
                           "Right for a runner's persistent disk; make sure only the controller's user may write it",
                           item.doc.pos(pointer), pointer)]
    return [Diagnostic("warning", f"state path {path!r} resolves outside the repository, to {resolved}",
                       "Keep relative state paths inside the repository (.idmctl/<env>.db), or write an absolute "
                       "path on purpose", item.doc.pos(pointer), pointer)]


def _check_variables(item: Located) -> list[Diagnostic]:
    """Variables are shown in plans, state and logs: none may hold a URL with credentials in it."""
    diags: list[Diagnostic] = []

    def walk(value: Any, pointer: str, name: str) -> None:
        if isinstance(value, str) and URL_CREDENTIALS.search(value):
            diags.append(Diagnostic(
                "error", f"variable {name!r} holds a URL with a user name or password in it "
                f"({hide_url_credentials(value)[:80]})",
                "Plans, state and logs show variables: remove the credentials from the URL (a password "
                "belongs in spec.secrets, referenced by a secret field)", item.doc.pos(pointer), pointer))
        elif isinstance(value, dict):
            for key, child in value.items():
                walk(child, f"{pointer}/{escape_pointer(key)}", name)
        elif isinstance(value, list):
            for i, child in enumerate(value):
                walk(child, f"{pointer}/{i}", name)

    for name, value in item.model.spec.variables.items():
        walk(value, f"/spec/variables/{escape_pointer(name)}", name)
    return diags


def _check_mapping(item: Located, mappings: dict[str, Located]) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    spec = item.model.spec
    doc = item.doc
    managed = MANAGED_TYPES.get(spec.target)
    if managed is None:
        diags.append(Diagnostic(
            "error", f"target {spec.target!r} is not a managed object type idmctl knows",
            f"Use one of: {', '.join(MANAGED_TYPES)}", doc.pos("/spec/target"), "/spec/target"))
    targets: dict[str, int] = {}
    for i, prop in enumerate(spec.properties):
        p = f"/spec/properties/{i}/target"
        if managed is not None and prop.target not in managed.properties:
            close = did_you_mean(prop.target, managed.properties)
            hint = (f"Did you mean {close!r}?" if close
                    else f"{managed.name} properties: {', '.join(sorted(managed.properties)[:12])}, ...")
            diags.append(Diagnostic("error", f"{spec.target} has no property {prop.target!r}", hint,
                                    doc.pos(p), p))
        if prop.source is not None and (problem := graph_user_problem(prop.source)) is not None:
            sp = f"/spec/properties/{i}/source"
            diags.append(Diagnostic("error", problem[0], problem[1], doc.pos(sp), sp, related=item.related(sp)))
        if prop.target in targets:
            diags.append(Diagnostic("error", f"property {prop.target!r} is mapped twice",
                                    "Map each target property once", doc.pos(p), p,
                                    related=(doc.pos(f"/spec/properties/{targets[prop.target]}/target"),)))
        targets.setdefault(prop.target, i)
        if prop.source is None and prop.default is None:
            diags.append(Diagnostic("error", f"property {prop.target!r} has neither source nor default",
                                    "Give a source attribute or a constant default",
                                    doc.pos(f"/spec/properties/{i}"), f"/spec/properties/{i}"))
    if managed is not None:
        for req in managed.required:
            if req not in targets:
                diags.append(Diagnostic(
                    "warning", f"required {managed.name} property {req!r} is not mapped",
                    "Every CREATE will fail for lack of it; map it or give it a default",
                    doc.pos("/spec/properties"), "/spec/properties"))
    corr = spec.correlation
    if corr is not None:
        if (corr.any is None) == (corr.all is None):
            diags.append(Diagnostic("error", "correlation needs exactly one of 'any' or 'all'",
                                    "Example: correlation: {any: [userName]}",
                                    doc.pos("/spec/correlation"), "/spec/correlation"))
        key = "any" if corr.any is not None else "all"
        for i, name in enumerate(corr.any or corr.all or []):
            p = f"/spec/correlation/{key}/{i}"
            if name not in targets:
                diags.append(Diagnostic(
                    "error", f"correlation property {name!r} is not a mapped target property",
                    f"Correlation compares target properties with their mapped source values; "
                    f"mapped: {', '.join(targets)}", doc.pos(p), p))
    for situation, action in spec.policies.rules.items():
        p = f"/spec/policies/rules/{situation.value}"
        if situation in NO_SOURCE and action in _NEEDS_SOURCE:
            diags.append(Diagnostic("error", f"{situation.value} cannot {action.value}: there is no source "
                                    "object in this situation", "Use DELETE, UNLINK, EXCEPTION, IGNORE, "
                                    "REPORT, NOREPORT or ASYNC", doc.pos(p), p))
        elif situation in NO_TARGET and action in _NEEDS_TARGET:
            diags.append(Diagnostic("error", f"{situation.value} cannot {action.value}: there is no target "
                                    "object or link in this situation", "Use CREATE (ABSENT), EXCEPTION, "
                                    "IGNORE, REPORT, NOREPORT or ASYNC", doc.pos(p), p))
    for attr in ("sourceFilter", "validSource"):
        text = getattr(spec, attr)
        if text is not None:
            diags.extend(_check_filter(text, item, f"/spec/{attr}", pushdown=attr == "sourceFilter"))
    if spec.renamedFrom is not None:
        p = "/spec/renamedFrom"
        if spec.renamedFrom == item.name:
            diags.append(Diagnostic("error", "renamedFrom names the mapping itself",
                                    "Give the mapping's previous name", doc.pos(p), p))
        elif spec.renamedFrom in mappings:
            diags.append(Diagnostic("error", f"renamedFrom {spec.renamedFrom!r} still exists",
                                    "Remove the old mapping when renaming it", doc.pos(p), p))
    return diags


def _check_filter(text: str, item: Located, pointer: str, *, pushdown: bool) -> list[Diagnostic]:
    doc = item.doc
    try:
        parsed = parse_filter(text)
    except FilterSyntaxError as exc:
        return [Diagnostic("error", f"filter does not parse: {exc.reason} at column {exc.column}",
                           exc.hint, doc.pos(pointer), pointer, related=item.related(pointer))]
    diags = []
    for attr in sorted(filter_attributes(parsed)):
        problem = graph_user_problem(attr)
        if problem is not None:
            diags.append(Diagnostic("error", f"the filter reads {attr!r}: {problem[0]}", problem[1], doc.pos(pointer),
                                    pointer, related=item.related(pointer)))
    if diags:
        return diags
    plan = to_graph(parsed)
    diags += [Diagnostic("warning", m.describe(), m.hint(), doc.pos(pointer), pointer, related=item.related(pointer))
             for m in plan.mismatches]
    if pushdown:
        diags.append(Diagnostic("info", plan.describe(), None, doc.pos(pointer), pointer))
    return diags


def _check_schedule(item: Located) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    spec = item.model.spec
    doc = item.doc
    try:
        ZoneInfo(spec.timeZone)
    except (ZoneInfoNotFoundError, ValueError):
        diags.append(Diagnostic("error", f"unknown time zone {spec.timeZone!r}",
                                "Use an IANA name such as UTC or Europe/Berlin",
                                doc.pos("/spec/timeZone"), "/spec/timeZone"))
    try:
        parse_cron(spec.cron)
    except CronSyntaxError as exc:
        diags.append(Diagnostic("error", str(exc.reason if not exc.field else f"{exc.field}: {exc.reason}"),
                                exc.hint, doc.pos("/spec/cron"), "/spec/cron"))
        return diags
    for warning in lint(spec.cron):
        diags.append(Diagnostic("warning", warning, None, doc.pos("/spec/cron"), "/spec/cron"))
    return diags


