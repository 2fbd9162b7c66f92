"""Reconciliations (``/openidm/recon``) and liveSync runs, as AIC runs them (reference §5.1-§5.3).

A recon runs on its own thread: setup (the mapping, a refusal when every policy is ASYNC), the source
query (``sourceQuery``, recon only), the source phase (every source object), the target phase when
``runTargetPhase`` (the targets no source handled), then the summary in AIC's shape (§5.2). Cancel is
looked at between records. ``analyze`` decides situations and actions and does none of them. A run's
association entries are kept when it was asked ``persistAssociations=true`` or ``analyze=true``.

liveSync reads Graph's users delta from the stored token (``repo/synchronisation/pooledSyncStage``),
and brings each change through every mapping whose source is that object type (``sourceCondition``
applies, ``sourceQuery`` does not); ``@removed`` users are deleted sources (§1b). Each call is kept as
a ``LiveSyncRun`` (counts and entries, the emulator's stand-in for AIC's audit), newest last.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from controller.emulator.aic._query import QueryError, compile_filter
from controller.emulator.aic._scripts import ScriptError
from controller.emulator.aic._sync import SITUATIONS, MappingSync, Outcome, SyncError, Tenant, Timings

__all__ = ["LiveSyncRun", "ReconRun", "now_iso", "run_livesync_changes"]

_STAGES = {"ACTIVE_INITIALIZED": "initialized", "ACTIVE_QUERY_ENTRIES": "querying source, target and link sets",
           "ACTIVE_RECONCILING_SOURCE": "reconciling source entries",
           "ACTIVE_RECONCILING_TARGET": "reconciling target entries",
           "ACTIVE_PROCESSING_RESULTS": "post-processing of reconciliation results",
           "ACTIVE_CANCELING": "canceling reconciliation", "COMPLETED_SUCCESS": "reconciliation completed.",
           "COMPLETED_CANCELED": "reconciliation canceled.", "COMPLETED_FAILED": "reconciliation failed"}
OVERRIDABLE = ("sourceQuery", "targetQuery", "runTargetPhase", "allowEmptySourceSet", "sourceQueryFullEntry",
               "targetQueryFullEntry", "sourceIds")


def now_iso(at: float | None = None) -> str:
    moment = dt.datetime.fromtimestamp(time.time() if at is None else at, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class _Counts:
    situations: dict[str, int] = field(default_factory=dict)
    success: int = 0
    failure: int = 0
    written: dict[str, int] = field(default_factory=dict)
    links_created: int = 0

    def add(self, out: Outcome) -> None:
        if out.situation is not None:
            self.situations[out.situation] = self.situations.get(out.situation, 0) + 1
        if out.status == "SUCCESS":
            self.success += 1
        else:
            self.failure += 1
        if out.written:
            self.written[out.written] = self.written.get(out.written, 0) + 1
        if out.link_created:
            self.links_created += 1

    def situation_summary(self) -> dict[str, int]:
        return {s: self.situations.get(s, 0) for s in SITUATIONS}


class ReconRun:
    """One reconciliation: its summary (``summary()``), entries, cancel flag and thread."""

    def __init__(self, mapping: dict[str, Any], params: dict[str, Any], *, analyze: bool, persist: bool,
                 record_delay: Callable[[], float]) -> None:
        self.id = str(uuid.uuid4())
        self.mapping = mapping
        self.params = params  # the mapping's query settings after the request body's overrides
        self.analyze, self.persist = analyze, persist or analyze
        self.record_delay = record_delay
        self.lock = threading.Lock()
        self.cancelled = threading.Event()
        self.done = threading.Event()
        self.state, self.stage = "ACTIVE", "ACTIVE_INITIALIZED"
        self.started: float = time.time()
        self.ended: float | None = None
        self.failure_reason: str | None = None
        self.counts = _Counts()
        self.source_total: str = "?"
        self.source_processed = 0
        self.target_total: str = "?"
        self.target_processed = 0
        self.links_total: str = "?"
        self.links_processed = 0
        self.entries: list[dict[str, Any]] = []
        self.timings = Timings()
        self.effective_source_query: dict[str, Any] = {}

    # -- the summary ---------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        with self.lock:
            written = self.counts.written
            out: dict[str, Any] = {
                "_id": self.id, "mapping": self.mapping.get("name"), "state": self.state, "stage": self.stage,
                "stageDescription": _STAGES[self.stage],
                "progress": {
                    "source": {"existing": {"processed": self.source_processed, "total": self.source_total}},
                    "target": {"existing": {"processed": self.target_processed, "total": self.target_total},
                               "created": written.get("created", 0), "unchanged": written.get("unchanged", 0),
                               "updated": written.get("updated", 0), "deleted": written.get("deleted", 0),
                               "retried": 0},
                    "links": {"existing": {"processed": self.links_processed, "total": self.links_total},
                              "created": self.counts.links_created}},
                "situationSummary": self.counts.situation_summary(),
                "statusSummary": {"SUCCESS": self.counts.success, "FAILURE": self.counts.failure},
                "durationSummary": self.timings.summary(),
                "parameters": {"sourceQuery": self.effective_source_query,
                               "targetQuery": {"resourceName": self.mapping.get("target"),
                                               "queryId": "query-all-ids"}},
                "sourceProcessedByNode": {"emulator": self.source_processed},
                "started": now_iso(self.started),
                "ended": now_iso(self.ended) if self.ended is not None else "",
                "duration": round(((self.ended or time.time()) - self.started) * 1000),
            }
            if self.analyze:
                out["analyze"] = True
            if self.failure_reason is not None:
                out["failureReason"] = self.failure_reason  # the emulator's: AIC writes it to its logs only
            return out

    def association(self) -> dict[str, Any]:
        return {"_id": self.id, "reconId": self.id, "mapping": self.mapping.get("name"),
                "sourceResourceCollection": self.mapping.get("source"),
                "targetResourceCollection": self.mapping.get("target"),
                "isAnalysis": "true" if self.analyze else "false",
                "finishTime": now_iso(self.ended) if self.ended is not None else None}

    def _stage(self, stage: str) -> None:
        with self.lock:
            self.stage = stage

    def _finish(self, state: str, stage: str, reason: str | None = None) -> None:
        with self.lock:
            self.state, self.stage, self.ended = state, stage, time.time()
            self.failure_reason = reason
        self.done.set()

    def _record(self, out: Outcome) -> None:
        with self.lock:
            self.counts.add(out)
            if self.persist and out.action != "NOREPORT":
                self.entries.append(out.entry(self.mapping, self.id, len(self.entries) + 1))

    def _stopping(self) -> bool:
        delay = self.record_delay()
        if delay > 0:
            time.sleep(delay)
        return self.cancelled.is_set()

    # -- the run ---------------------------------------------------------------------------------------
    def run(self, tenant: Tenant, repo: Any, read_source: Callable[[str], list[dict[str, Any]]],
            on_written: Callable[[], None]) -> None:
        """Run to the end (on the caller's thread); never raises."""
        try:
            self._run(tenant, repo, read_source)
        except (SyncError, ScriptError, QueryError) as exc:
            self._finish("FAILED", "COMPLETED_FAILED", str(exc))
        except Exception as exc:  # a source that cannot be read (Graph unavailable) and the like  # noqa: BLE001
            self._finish("FAILED", "COMPLETED_FAILED", str(exc) or type(exc).__name__)
        finally:
            on_written()
            self.done.set()

    def _run(self, tenant: Tenant, repo: Any, read_source: Callable[[str], list[dict[str, Any]]]) -> None:
        sync = MappingSync(self.mapping, tenant, repo, analyze=self.analyze, timings=self.timings)
        sync.recon = True
        if sync.all_async():
            self._finish("FAILED", "COMPLETED_FAILED",
                         "every policy of the mapping is ASYNC: nothing a reconciliation could do")
            return
        self._stage("ACTIVE_QUERY_ENTRIES")
        started = time.perf_counter()
        everyone = read_source(sync.source)
        self.timings.add("sourceQuery", started)
        query = self.params.get("sourceQuery")
        text = query.get("_queryFilter") if isinstance(query, dict) else None
        self.effective_source_query = {"resourceName": sync.source,
                                       **({"_queryFilter": text} if isinstance(text, str) else
                                          {"queryId": "query-all-ids"})}
        ids = self.params.get("sourceIds")
        if isinstance(ids, list):  # reconById: those objects, sourceQuery aside
            wanted = {str(i) for i in ids}
            self.effective_source_query = {"resourceName": sync.source, "sourceIds": sorted(wanted)}
            sources = [o for o in everyone if str(o["_id"]) in wanted]
        else:
            keep = compile_filter(text) if isinstance(text, str) else (lambda o: True)
            sources = [o for o in everyone if keep(o)]
        links = repo.of_type(sync.link_type)
        with self.lock:
            self.source_total, self.target_total = str(len(sources)), str(len(sync.view.objects))
            self.links_total = str(len(links))
        if not sources and not self.params.get("allowEmptySourceSet"):
            self._finish("FAILED", "COMPLETED_FAILED", "Cannot reconcile from an empty data source, unless "
                                                       "allowEmptySourceSet is true.")
            return
        self._stage("ACTIVE_RECONCILING_SOURCE")
        phase = time.perf_counter()
        handled: set[str] = set()
        for source in sources:
            if self._stopping():
                return self._cancelled()
            out = self._one(partial(sync.assess_source, source), sync, source)
            handled.update([out.target_id] if out.target_id else [])
            handled.update(out.ambiguous)
            with self.lock:
                self.source_processed += 1
                self.links_processed += 1 if out.linked else 0
        self.timings.add("sourcePhase", phase)
        if self.params.get("runTargetPhase"):
            self._stage("ACTIVE_RECONCILING_TARGET")
            phase = time.perf_counter()
            by_id = {str(o["_id"]): o for o in everyone}
            for target in [o for i, o in sorted(sync.view.objects.items()) if i not in handled]:
                if self._stopping():
                    return self._cancelled()
                self._one(partial(sync.assess_target, target, by_id), sync, None, target_phase_source=by_id)
                with self.lock:
                    self.target_processed += 1
            self.timings.add("targetPhase", phase)
        self._stage("ACTIVE_PROCESSING_RESULTS")
        self._finish("SUCCESS", "COMPLETED_SUCCESS")

    def _one(self, assess: Callable[[], Outcome], sync: MappingSync, source: dict[str, Any] | None,
             target_phase_source: dict[str, dict[str, Any]] | None = None) -> Outcome:
        try:
            out = assess()
        except ScriptError as exc:
            sid = str(source["_id"]) if source else None
            out = Outcome("source" if source else "target", sid, None, status="FAILURE", message=str(exc))
            self._record(out)
            return out
        if target_phase_source is not None and out.source_id:
            source = target_phase_source.get(out.source_id)
        sync.decide_and_do(out, source)
        self._record(out)
        return out

    def _cancelled(self) -> None:
        self._stage("ACTIVE_CANCELING")
        self._finish("CANCELED", "COMPLETED_CANCELED")


@dataclass
class LiveSyncRun:
    """One liveSync call: what it did (the emulator's stand-in for AIC's sync audit)."""

    source: str
    stage_id: str
    first: bool
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.time)
    ended: float | None = None
    state: str = "ACTIVE"
    changes: int = 0
    mappings: list[str] = field(default_factory=list)
    error: str | None = None
    counts: _Counts = field(default_factory=_Counts)
    entries: list[dict[str, Any]] = field(default_factory=list)

    def record(self, mapping: dict[str, Any], out: Outcome) -> None:
        self.counts.add(out)
        self.entries.append(out.entry(mapping, self.id, len(self.entries) + 1))

    def view(self) -> dict[str, Any]:
        return {"_id": self.id, "source": self.source, "stage": self.stage_id, "firstRun": self.first,
                "state": self.state, "started": now_iso(self.started),
                "ended": now_iso(self.ended) if self.ended else "", "changes": self.changes,
                "mappings": list(self.mappings), "situationSummary": self.counts.situation_summary(),
                "statusSummary": {"SUCCESS": self.counts.success, "FAILURE": self.counts.failure},
                "target": {"created": self.counts.written.get("created", 0),
                           "updated": self.counts.written.get("updated", 0),
                           "unchanged": self.counts.written.get("unchanged", 0),
                           "deleted": self.counts.written.get("deleted", 0)},
                "entries": list(self.entries), **({"error": self.error} if self.error else {})}


def run_livesync_changes(run: LiveSyncRun, mappings: list[dict[str, Any]], changes: list[dict[str, Any]],
                         tenant: Tenant, repo: Any, read_one: Callable[[str], dict[str, Any] | None]) -> None:
    """Bring each delta item through every mapping (enableSync not false) whose source is ``run.source``."""
    syncs = [MappingSync(m, tenant, repo) for m in mappings if m.get("enableSync", True) is not False]
    run.mappings = [s.name for s in syncs]
    seen: set[str] = set()
    for item in changes:
        sid = str(item["id"])
        if sid in seen:
            continue
        seen.add(sid)
        run.changes += 1
        source = None if "@removed" in item else read_one(sid)
        for sync in syncs:
            try:
                out = sync.assess_gone(sid) if source is None else sync.assess_source(source)
            except ScriptError as exc:
                run.record(sync.mapping, Outcome("source", sid, None, status="FAILURE", message=str(exc)))
                continue
            run.record(sync.mapping, sync.decide_and_do(out, source))
