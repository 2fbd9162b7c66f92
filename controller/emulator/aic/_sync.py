"""IDM's synchronization of one mapping, as AIC runs it: situations, policies, actions, links.

``MappingSync`` holds one mapping's compiled state for a run (or one liveSync call): its scripts run
by ``ScriptEngine``, its target collection indexed for correlation queries, its links. Each source
object (source phase), target object (target phase) or deleted source (liveSync) becomes an
``Outcome``: the situation (reference idm-reconciliation §1), the policy's action (first policy of the
situation whose condition holds, else the engine default of §3), and, unless the run only analyzes,
the action done: the managed object created, updated or deleted through the property mappings
(``transform`` scripts, ``default``) with the target's required properties checked, the link made,
repointed or removed.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from controller.emulator.aic._query import QueryError, compile_filter
from controller.emulator.aic._scripts import ScriptEngine, ScriptError, is_script

__all__ = ["ACTIONS", "DEFAULT_ACTIONS", "SITUATIONS", "MappingSync", "Outcome", "SyncError", "Tenant", "Timings"]

# Every situation AIC reports, AIC's own included (reference §5.2), in its summary order.
SITUATIONS = ("SOURCE_IGNORED", "TARGET_CHANGED", "SOURCE_TARGET_CONFLICT", "FOUND_ALREADY_LINKED", "UNQUALIFIED",
              "ABSENT", "TARGET_IGNORED", "MISSING", "ALL_GONE", "UNASSIGNED", "AMBIGUOUS", "CONFIRMED", "LINK_ONLY",
              "SOURCE_MISSING", "FOUND")
# The engine's defaults when a mapping has no policy for a situation (sync/impl/Situation.java).
DEFAULT_ACTIONS = {"CONFIRMED": "UPDATE", "FOUND": "UPDATE", "FOUND_ALREADY_LINKED": "EXCEPTION", "ABSENT": "CREATE",
                   "AMBIGUOUS": "EXCEPTION", "MISSING": "EXCEPTION", "UNQUALIFIED": "DELETE",
                   "SOURCE_IGNORED": "REPORT", "TARGET_IGNORED": "REPORT", "UNASSIGNED": "EXCEPTION",
                   "SOURCE_MISSING": "EXCEPTION", "LINK_ONLY": "EXCEPTION", "ALL_GONE": "NOREPORT",
                   "TARGET_CHANGED": "ASYNC", "SOURCE_TARGET_CONFLICT": "ASYNC"}
# ONBOARD and INCORPORATE_CHANGES are AIC's own (no public definition): done here as UPDATE.
ACTIONS = ("CREATE", "UPDATE", "LINK", "DELETE", "UNLINK", "EXCEPTION", "IGNORE", "REPORT", "NOREPORT", "ASYNC",
           "ONBOARD", "INCORPORATE_CHANGES")
# Required properties of <realm>_user when config/managed does not say (the real alpha_user schema, §2.4).
USER_REQUIRED = ("userName", "givenName", "sn", "mail")
_TERM = r'([A-Za-z_][A-Za-z0-9_]*)\s+eq\s+"((?:[^"\\]|\\.)*)"'
_EQ_TERM = re.compile(_TERM)
_EQ_ONLY = re.compile(rf"^\s*{_TERM}(?:\s+or\s+{_TERM})*\s*$")


class SyncError(Exception):
    """A mapping that cannot run at all (the run fails at setup; the message says why)."""


class Tenant(Protocol):
    """What the sync engine needs of the emulator."""

    realm: str

    def target_objects(self, path: str) -> list[dict[str, Any]]: ...
    def write_target(self, path: str, obj_id: str, body: dict[str, Any] | None) -> dict[str, Any] | None: ...
    def required_properties(self, path: str) -> list[str]: ...


class Timings:
    """``durationSummary``: per metric min/max/mean/count/sum/stdDev in milliseconds."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}
        self._lock = threading.Lock()  # a run adds while a GET of its summary reads

    def add(self, metric: str, started: float) -> None:
        with self._lock:
            self.samples.setdefault(metric, []).append((time.perf_counter() - started) * 1000)

    def summary(self) -> dict[str, dict[str, float | int]]:
        out: dict[str, dict[str, float | int]] = {}
        with self._lock:
            samples = {k: list(v) for k, v in self.samples.items()}
        for metric, values in sorted(samples.items()):
            mean = sum(values) / len(values)
            std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
            out[metric] = {"min": round(min(values)), "max": round(max(values)), "mean": round(mean),
                           "count": len(values), "sum": round(sum(values)), "stdDev": round(std)}
        return out


@dataclass
class Outcome:
    """One record's result: an association entry of the run (reference §5.1, ``fr-idm-reconassocentry``)."""

    phase: str  # "source" or "target"
    source_id: str | None
    target_id: str | None
    situation: str | None = None
    action: str | None = None
    status: str = "SUCCESS"
    message: str | None = None
    message_detail: dict[str, Any] | None = None
    ambiguous: list[str] = field(default_factory=list)
    link_qualifier: str = "default"
    written: str | None = None  # "created", "updated", "unchanged", "deleted" (the progress counters)
    linked: bool = False  # the source or target had a link, or has one now
    link_created: bool = False  # this record made a link (progress.links.created)

    def entry(self, mapping: dict[str, Any], recon_id: str, number: int) -> dict[str, Any]:
        return {"_id": f"{recon_id}-{number}", "reconId": recon_id, "mapping": mapping.get("name"),
                "sourceResourceCollection": mapping.get("source"), "targetResourceCollection": mapping.get("target"),
                "sourceObjectId": self.source_id, "targetObjectId": self.target_id, "situation": self.situation,
                "action": self.action, "linkQualifier": self.link_qualifier, "status": self.status,
                "message": self.message, "messageDetail": self.message_detail, "exception": None,
                "phase": self.phase, "ambiguousTargetObjectIds": list(self.ambiguous)}


def _pointer_get(obj: Any, path: str | None) -> Any:
    """The value at ``path``: ``""`` is the whole object (IDM's root pointer), no path at all is null."""
    if path is None:
        return None
    if path.strip("/") == "":
        return obj
    cur = obj
    for part in path.strip("/").split("/"):
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur


def _pointer_set(obj: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = [p for p in path.strip("/").split("/") if p]
    cur = obj
    for part in parents:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = cur[part] = {}
        cur = nxt
    cur[last] = value


def _missing(value: Any) -> bool:
    return value is None or value == "" or value == []


class _TargetView:
    """The target collection for one run, kept current by the run's own writes, with eq indexes."""

    def __init__(self, objects: Iterable[dict[str, Any]]) -> None:
        self.objects: dict[str, dict[str, Any]] = {str(o["_id"]): o for o in objects}
        self._indexes: dict[str, dict[Any, set[str]]] = {}

    @staticmethod
    def _key(value: Any) -> Any:
        return value.casefold() if isinstance(value, str) else value

    def _index(self, name: str) -> dict[Any, set[str]]:
        index = self._indexes.get(name)
        if index is None:
            index = self._indexes[name] = {}
            for obj_id, obj in self.objects.items():
                self._add(index, name, obj_id, obj)
        return index

    def _add(self, index: dict[Any, set[str]], name: str, obj_id: str, obj: dict[str, Any]) -> None:
        value = obj.get(name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str | int | bool):
                index.setdefault(self._key(item), set()).add(obj_id)

    def put(self, obj: dict[str, Any]) -> None:
        self.drop(str(obj["_id"]))
        self.objects[str(obj["_id"])] = obj
        for name, index in self._indexes.items():
            self._add(index, name, str(obj["_id"]), obj)

    def drop(self, obj_id: str) -> None:
        old = self.objects.pop(obj_id, None)
        if old is None:
            return
        for name, index in self._indexes.items():
            value = old.get(name)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str | int | bool):
                    index.get(self._key(item), set()).discard(obj_id)

    def query(self, text: str) -> list[str]:
        """The ids a ``_queryFilter`` matches: by index for ``a eq "x" [or b eq "y" …]``, else a scan."""
        if _EQ_ONLY.match(text):
            found: set[str] = set()
            for match in _EQ_TERM.finditer(text):
                literal = json.loads(f'"{match.group(2)}"')
                found |= self._index(match.group(1)).get(self._key(literal), set())
            return sorted(found)
        keep = compile_filter(text)
        return sorted(i for i, o in self.objects.items() if keep(o))


class MappingSync:
    """One mapping compiled for a run: scripts, policies, the target view, links (``repo``)."""

    def __init__(self, mapping: dict[str, Any], tenant: Tenant, repo: Any, *, analyze: bool = False,
                 timings: Timings | None = None) -> None:
        self.mapping = mapping
        self.name = str(mapping.get("name") or "")
        self.source = str(mapping.get("source") or "")
        self.target = str(mapping.get("target") or "")
        if not self.target.startswith("managed/"):
            raise SyncError(f"mapping {self.name}: the AIC emulator synchronizes into managed objects only, "
                            f"not {self.target!r}")
        links = mapping.get("links")
        self.link_type = str(links) if isinstance(links, str) and links else self.name
        self.reverse = self.link_type != self.name  # another mapping's links: its firstId is our target
        self.tenant, self.repo, self.analyze = tenant, repo, analyze
        self.timings = timings or Timings()
        self.engine = ScriptEngine()
        self.required = tenant.required_properties(self.target)
        self.view = _TargetView(tenant.target_objects(self.target))
        self.target_set_empty = not self.view.objects
        policies = mapping.get("policies")
        self.policies: list[dict[str, Any]] = [p for p in policies if isinstance(p, dict)] \
            if isinstance(policies, list) else []
        self.properties = [p for p in mapping.get("properties") or [] if isinstance(p, dict) and p.get("target")]
        correlation = mapping.get("correlationQuery")
        if isinstance(correlation, list):
            correlation = next((c for c in correlation if isinstance(c, dict)
                                and c.get("linkQualifier", "default") == "default"), None)
        self.correlation = correlation if is_script(correlation) else None
        script = mapping.get("correlationScript")
        self.correlation_script = script if is_script(script) else None
        self.recon = False  # recon: correlateEmptyTargetSet applies

    # -- links ------------------------------------------------------------------------------------------
    def link_of_source(self, source_id: str, qualifier: str = "default") -> dict[str, Any] | None:
        find = self.repo.by_second if self.reverse else self.repo.by_first
        link: dict[str, Any] | None = find(self.link_type, qualifier, source_id)
        return link

    def link_of_target(self, target_id: str, qualifier: str = "default") -> dict[str, Any] | None:
        find = self.repo.by_first if self.reverse else self.repo.by_second
        link: dict[str, Any] | None = find(self.link_type, qualifier, target_id)
        return link

    def _target_of(self, link: dict[str, Any]) -> str:
        return str(link["firstId"] if self.reverse else link["secondId"])

    def source_of(self, link: dict[str, Any]) -> str:
        return str(link["secondId"] if self.reverse else link["firstId"])

    def _make_link(self, out: Outcome, source_id: str, target_id: str) -> None:
        """Link ``source_id`` to ``target_id`` (repointing a link it had); ``out`` records it."""
        current = self.link_of_source(source_id, out.link_qualifier)
        if current is not None:
            self.repo.unlink(current["_id"])
        first, second = (target_id, source_id) if self.reverse else (source_id, target_id)
        self.repo.link(self.link_type, out.link_qualifier, first, second)
        out.linked, out.link_created = True, current is None

    # -- scripts and conditions ----------------------------------------------------------------------------
    def condition(self, cond: Any, what: str, scope: dict[str, Any]) -> bool:
        if cond is None or cond == "":
            return True
        if isinstance(cond, str):
            try:
                return compile_filter(cond)(scope)
            except QueryError as exc:
                raise ScriptError(f"{what}: {exc}") from None
        started = time.perf_counter()
        try:
            return bool(self.engine.run(cond, what, **scope))
        finally:
            self.timings.add(f"{what}Script", started)

    def valid_source(self, source: dict[str, Any], qualifier: str = "default") -> bool:
        scope = {"source": source, "linkQualifier": qualifier}
        return (self.condition(self.mapping.get("validSource"), "validSource", scope)
                and self.condition(self.mapping.get("sourceCondition"), "sourceCondition", scope))

    def valid_target(self, target: dict[str, Any], qualifier: str = "default") -> bool:
        return self.condition(self.mapping.get("validTarget"), "validTarget",
                              {"target": target, "linkQualifier": qualifier})

    def correlate(self, source: dict[str, Any], qualifier: str = "default") -> list[str] | None:
        """The candidate target ids, or None when there is no correlation (or it is skipped)."""
        if self.recon and self.target_set_empty and not self.mapping.get("correlateEmptyTargetSet"):
            return None
        started = time.perf_counter()
        try:
            if self.correlation is not None:
                query = self.engine.run(self.correlation, "correlationQuery", source=source, linkQualifier=qualifier)
                if not isinstance(query, dict) or not isinstance(query.get("_queryFilter"), str):
                    raise ScriptError(f"correlationQuery: the script returned {query!r}, not {{_queryFilter: …}} "
                                      "(the emulator runs _queryFilter correlation queries)")
                try:
                    return self.view.query(query["_queryFilter"])
                except QueryError as exc:
                    raise ScriptError(f"correlationQuery: {exc}") from None
            if self.correlation_script is not None:
                found = self.engine.run(self.correlation_script, "correlationScript", source=source,
                                        linkQualifier=qualifier)
                if not isinstance(found, list):
                    raise ScriptError(f"correlationScript: the script returned {found!r}, not a list of candidates")
                return [str(c.get("_id")) if isinstance(c, dict) else str(c) for c in found]
            return None
        finally:
            self.timings.add("targetObjectQuery", started)

    def action_for(self, situation: str, source: dict[str, Any] | None, target: dict[str, Any] | None,
                   qualifier: str = "default") -> str:
        for policy in self.policies:
            if policy.get("situation") != situation:
                continue
            scope = {"object": source, "source": source, "target": target, "linkQualifier": qualifier}
            if not self.condition(policy.get("condition"), "policyCondition", scope):
                continue
            action = policy.get("action")
            if is_script(action):
                action = self.engine.run(action, "policyAction", source=source, target=target,
                                         linkQualifier=qualifier, sourceAction=source is not None,
                                         recon={"actionParam": {"situation": situation, "mapping": self.name}})
            return str(action).upper()
        return DEFAULT_ACTIONS[situation]

    def all_async(self) -> bool:
        return bool(self.policies) and all(str(p.get("action")).upper() == "ASYNC" for p in self.policies)

    # -- property mappings ---------------------------------------------------------------------------------
    def map_onto(self, source: dict[str, Any], target: dict[str, Any], qualifier: str) -> dict[str, Any]:
        out = copy.deepcopy(target)
        for prop in self.properties:
            scope = {"object": source, "source": source, "target": target, "linkQualifier": qualifier}
            if not self.condition(prop.get("condition"), "propertyCondition", scope):
                continue
            value = _pointer_get(source, prop.get("source"))
            if is_script(prop.get("transform")):
                started = time.perf_counter()
                value = self.engine.run(prop["transform"], f"transform of {prop['target']}", source=value,
                                        linkQualifier=qualifier)
                self.timings.add("propertyMappingScript", started)
            if value is None and "default" in prop:
                value = copy.deepcopy(prop["default"])
            _pointer_set(out, str(prop["target"]), value)
        return out

    def _check_required(self, obj: dict[str, Any]) -> None:
        failed = [name for name in self.required if _missing(obj.get(name))]
        if failed:
            raise _PolicyFailure(failed)

    # -- situations ------------------------------------------------------------------------------------------
    def assess_source(self, source: dict[str, Any], qualifier: str = "default") -> Outcome:
        """Source phase (§1a) for one source object."""
        sid = str(source["_id"])
        out = Outcome("source", sid, None, link_qualifier=qualifier)
        started = time.perf_counter()
        link = self.link_of_source(sid, qualifier)
        self.timings.add("sourceLinkQuery", started)
        valid = self.valid_source(source, qualifier)
        if link is not None:
            out.linked = True
            tid = self._target_of(link)
            out.target_id = tid
            if not valid:
                out.situation = "UNQUALIFIED"
            else:
                out.situation = "CONFIRMED" if tid in self.view.objects else "MISSING"
            return out
        hits = self.correlate(source, qualifier)
        if not valid:
            out.situation = "SOURCE_IGNORED" if not hits else "UNQUALIFIED"
            if hits and len(hits) == 1:
                out.target_id = hits[0]
            elif hits:
                out.ambiguous = hits
            return out
        if not hits:
            out.situation = "ABSENT"
        elif len(hits) == 1:
            out.target_id = hits[0]
            out.situation = "FOUND_ALREADY_LINKED" if self.link_of_target(hits[0], qualifier) else "FOUND"
        else:
            out.situation, out.ambiguous = "AMBIGUOUS", hits
        return out

    def assess_target(self, target: dict[str, Any], sources: dict[str, dict[str, Any]],
                      qualifier: str = "default") -> Outcome:
        """Target phase (§1c) for one target object; ``sources`` is the whole source set by id."""
        tid = str(target["_id"])
        out = Outcome("target", None, tid, link_qualifier=qualifier)
        if not self.valid_target(target, qualifier):
            out.situation = "TARGET_IGNORED"
            return out
        link = self.link_of_target(tid, qualifier)
        if link is None:
            out.situation = "UNASSIGNED"
            return out
        out.linked = True
        sid = self.source_of(link)
        out.source_id = sid
        source = sources.get(sid)
        if source is None:
            out.situation = "SOURCE_MISSING"
        else:
            out.situation = "CONFIRMED" if self.valid_source(source, qualifier) else "UNQUALIFIED"
        return out

    def assess_gone(self, source_id: str, qualifier: str = "default") -> Outcome:
        """A deleted source (a liveSync ``@removed``), §1b; Graph sends no old value, so no correlation."""
        out = Outcome("source", source_id, None, link_qualifier=qualifier)
        link = self.link_of_source(source_id, qualifier)
        if link is None:
            out.situation = "ALL_GONE"
            return out
        out.linked = True
        tid = self._target_of(link)
        out.target_id = tid
        target = self.view.objects.get(tid)
        if target is None:
            out.situation = "LINK_ONLY"
        else:
            out.situation = "SOURCE_MISSING" if self.valid_target(target, qualifier) else "TARGET_IGNORED"
        return out

    # -- actions ---------------------------------------------------------------------------------------------
    def decide_and_do(self, out: Outcome, source: dict[str, Any] | None) -> Outcome:
        """Pick the action for ``out.situation`` and, unless analyzing, do it; failures land in ``out``."""
        try:
            assert out.situation is not None
            target = self.view.objects.get(out.target_id) if out.target_id else None
            out.action = self.action_for(out.situation, source, target, out.link_qualifier)
            if out.action not in ACTIONS:
                raise ScriptError(f"the policy for {out.situation} names an unknown action {out.action!r}")
            if not self.analyze:
                self._do(out, source, target)
        except _PolicyFailure as exc:
            out.status, out.message, out.message_detail = "FAILURE", "Policy validation failed", exc.detail
        except ScriptError as exc:
            out.status, out.message = "FAILURE", str(exc)
        return out

    def _write(self, obj_id: str, body: dict[str, Any] | None) -> None:
        started = time.perf_counter()
        stored = self.tenant.write_target(self.target, obj_id, body)
        self.timings.add("updateTargetObject", started)
        if stored is None:
            self.view.drop(obj_id)
        else:
            self.view.put(stored)

    def _do(self, out: Outcome, source: dict[str, Any] | None, target: dict[str, Any] | None) -> None:
        action, qualifier = out.action, out.link_qualifier
        if action == "EXCEPTION":
            out.message = f"Situation {out.situation} marked as EXCEPTION"
            return
        if action in ("IGNORE", "REPORT", "NOREPORT", "ASYNC"):
            return
        if action == "CREATE":
            if source is None:
                raise ScriptError(f"{out.situation}: CREATE needs a source object")
            if target is not None:
                raise ScriptError("Target object already exists")
            body = self.map_onto(source, {}, qualifier)
            self._check_required(body)
            new_id = str(uuid.uuid4())
            self._write(new_id, body)
            out.target_id, out.written = new_id, "created"
            if self.mapping.get("enableLinking", True) is not False:
                self._make_link(out, str(source["_id"]), new_id)
            return
        if action in ("UPDATE", "ONBOARD", "INCORPORATE_CHANGES"):
            if source is None or out.target_id is None or target is None:
                raise ScriptError(f"{out.situation}: UPDATE needs a source and an existing target")
            link = self.link_of_source(str(source["_id"]), qualifier)
            if link is None or self._target_of(link) != out.target_id:
                self._make_link(out, str(source["_id"]), out.target_id)
            body = self.map_onto(source, target, qualifier)
            if {k: v for k, v in body.items() if k != "_rev"} == {k: v for k, v in target.items() if k != "_rev"}:
                out.written = "unchanged"
                return
            self._check_required(body)
            self._write(out.target_id, {k: v for k, v in body.items() if k not in ("_id", "_rev")})
            out.written = "updated"
            return
        if action == "LINK":
            if source is None or out.target_id is None:
                raise ScriptError(f"{out.situation}: LINK needs a source and a target")
            self._make_link(out, str(source["_id"]), out.target_id)
            return
        link = None
        if out.source_id is not None:
            link = self.link_of_source(out.source_id, qualifier)
        if link is None and out.target_id is not None:
            link = self.link_of_target(out.target_id, qualifier)
        if action == "DELETE" and out.target_id is not None and target is not None:
            self._write(out.target_id, None)
            out.written = "deleted"
        if link is not None:  # DELETE and UNLINK both remove the link
            self.repo.unlink(link["_id"])


class _PolicyFailure(Exception):
    def __init__(self, properties: list[str]) -> None:
        super().__init__("Policy validation failed")
        self.detail = {"result": False, "failedPolicyRequirements": [
            {"policyRequirements": [{"policyRequirement": "REQUIRED"}], "property": p} for p in properties]}


def each_situation(counts: dict[str, int]) -> dict[str, int]:
    return {s: counts.get(s, 0) for s in SITUATIONS}


Checker = Callable[[], bool]
