"""The sync side of the AIC emulator: ``/openidm/recon``, liveSync, ``/openidm/repo`` and ``/openidm/scheduler``.

``SyncService`` holds the links and sync stages (kept with the tenant's data), the recon runs and
liveSync runs (in memory, as a tenant's recon list), and the scheduler; the emulator routes those
paths here and gives it its stores and the Graph reader.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

from controller.emulator._reply import Reply
from controller.emulator.aic._cron import CronError, QuartzCron
from controller.emulator.aic._http import CrestError, json_body, query_params
from controller.emulator.aic._repo import RepoStore, stage_id
from controller.emulator.aic._runs import OVERRIDABLE, LiveSyncRun, ReconRun, run_livesync_changes
from controller.emulator.aic._scheduler import Scheduler, job_view
from controller.emulator.aic._store import ConfigStore, ManagedStore, query_answer
from controller.emulator.aic._sync import USER_REQUIRED, SyncError

__all__ = ["SyncService"]

_KEEP_LIVESYNC = 200


class SyncService:
    """Recon, liveSync, links, stages and schedules for one emulated tenant."""

    def __init__(self, config: ConfigStore, managed: ManagedStore, realm: str, *,
                 read_system: Callable[[str, str], list[dict[str, Any]]],
                 system_delta: Callable[[str, str, str | None], tuple[list[dict[str, Any]], str]],
                 system_one: Callable[[str, str, str], dict[str, Any] | None],
                 save: Callable[[], None], record_delay: float = 0.0,
                 log: Callable[[str], None] | None = None) -> None:
        self.config, self.managed, self.realm = config, managed, realm
        self.repo = RepoStore()
        self._read_system, self._delta, self._one, self._save = read_system, system_delta, system_one, save
        self.record_delay = record_delay
        self.recons: dict[str, ReconRun] = {}
        self.livesyncs: list[LiveSyncRun] = []
        self._lock = threading.Lock()
        self._source_locks: dict[str, threading.Lock] = {}
        self.scheduler = Scheduler(self._schedules, self._invoke, log)

    # -- what the sync engine needs (sync.Tenant) ----------------------------------------------------------
    def target_objects(self, path: str) -> list[dict[str, Any]]:
        return self.managed.find(path.split("/", 1)[1], lambda o: True)

    def write_target(self, path: str, obj_id: str, body: dict[str, Any] | None) -> dict[str, Any] | None:
        name = path.split("/", 1)[1]
        if body is None:
            self.managed.delete(name, obj_id)
            return None
        stored, _ = self.managed.put(name, obj_id, body)
        return stored

    def required_properties(self, path: str) -> list[str]:
        name = path.split("/", 1)[1]
        managed = self.config.get("managed") or {}
        for obj in managed.get("objects") or []:
            if isinstance(obj, dict) and obj.get("name") == name:
                schema = obj.get("schema") if isinstance(obj.get("schema"), dict) else {}
                required = (schema or {}).get("required")
                return [str(r) for r in required] if isinstance(required, list) else []
        return list(USER_REQUIRED) if name.endswith("_user") or name == "user" else []

    def _source_objects(self, path: str) -> list[dict[str, Any]]:
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == "system":
            return self._read_system(parts[1], parts[2])
        if len(parts) == 2 and parts[0] == "managed":
            return self.managed.find(parts[1], lambda o: True)
        raise SyncError(f"the mapping's source {path!r} is neither system/<connector>/<type> nor managed/<type>")

    # -- mappings --------------------------------------------------------------------------------------------
    def mappings(self) -> list[dict[str, Any]]:
        """Every mapping: ``config/sync`` entries first, in order, then ``config/mapping/*``."""
        out: list[dict[str, Any]] = []
        sync = self.config.get("sync") or {}
        out += [m for m in sync.get("mappings") or [] if isinstance(m, dict)]
        with self.config.lock:
            names = sorted(k for k in self.config.objects if k.startswith("mapping/"))
        for key in names:
            found = self.config.get(key)
            if found is not None:
                out.append({**found, "name": found.get("name") or key.split("/", 1)[1]})
        return out

    def mapping(self, name: str) -> dict[str, Any] | None:
        found = self.config.get(f"mapping/{name}")
        if found is not None:
            return {**found, "name": found.get("name") or name}
        return next((m for m in self.mappings() if m.get("name") == name), None)

    # -- recon -------------------------------------------------------------------------------------------------
    def start_recon(self, name: str, overrides: dict[str, Any] | None = None, *, analyze: bool = False,
                    persist: bool = False, wait: bool = False) -> ReconRun:
        mapping = self.mapping(name)
        if mapping is None:
            raise CrestError(409, f"No such mapping: {name}")
        params = {k: copy.deepcopy(mapping[k]) for k in OVERRIDABLE if k in mapping}
        params.update({k: v for k, v in (overrides or {}).items() if k in OVERRIDABLE})
        run = ReconRun(mapping, params, analyze=analyze, persist=persist, record_delay=lambda: self.record_delay)
        with self._lock:
            self.recons[run.id] = run

        def work() -> None:
            run.run(self, self.repo, self._source_objects, self._save)

        if wait:
            work()
        else:
            threading.Thread(target=work, name=f"aic-recon-{run.id[:8]}", daemon=True).start()
        return run

    def _recon_route(self, method: str, rest: list[str], query: dict[str, str], body: bytes) -> Reply:
        if not rest:
            if method == "GET":
                with self._lock:
                    runs = list(self.recons.values())
                return Reply.json(200, {"_id": "recon", "reconciliations": [r.summary() for r in runs]})
            if method == "POST" and query.get("_action") in ("recon", "reconById"):
                if not query.get("mapping"):
                    raise CrestError(400, "Missing required parameter 'mapping'")
                data = json_body(body)
                overrides = dict(data) if isinstance(data, dict) else {}
                if query["_action"] == "reconById":  # one source object (``id``, or ``ids`` as AIC takes it)
                    source_id = query.get("id") or query.get("ids")
                    if not source_id:
                        raise CrestError(400, "reconById needs the source object's id (id=…)")
                    overrides.update(sourceIds=[source_id], runTargetPhase=False)
                run = self.start_recon(query["mapping"], overrides,
                                       analyze=query.get("analyze") == "true",
                                       persist=query.get("persistAssociations") == "true",
                                       wait=query.get("waitForCompletion") == "true")
                if query.get("waitForCompletion") == "true":
                    return Reply.json(200, run.summary())
                return Reply.json(200, {"_id": run.id, "state": "ACTIVE"})
            raise CrestError(400, f"Unsupported request {method} on recon")
        if rest[0] == "assoc":
            return self._assoc(method, rest[1:], query)
        with self._lock:
            found = self.recons.get(rest[0])
        if found is None or len(rest) > 1:
            raise CrestError(404, f"Reconciliation with id {rest[0]} not found.")
        run = found
        if method == "GET":
            return Reply.json(200, run.summary())
        if method == "POST" and query.get("_action") == "cancel":
            run.cancelled.set()
            return Reply.json(200, {"_id": run.id, "action": "cancel", "status": "SUCCESS"})
        if method == "DELETE":
            with self._lock:
                self.recons.pop(run.id, None)
            return Reply.json(200, run.summary())
        raise CrestError(400, f"Unsupported request {method} on recon/{rest[0]}")

    def _assoc(self, method: str, rest: list[str], query: dict[str, str]) -> Reply:
        if method != "GET":
            raise CrestError(400, f"Unsupported request {method} on recon/assoc")
        with self._lock:
            runs = [r for r in self.recons.values() if r.persist]
        if not rest:
            return Reply.json(200, query_answer([r.association() for r in runs], {"_queryFilter": "true", **query},
                                                lambda o: o))
        run = next((r for r in runs if r.id == rest[0]), None)
        if run is None:
            raise CrestError(404, f"Reconciliation association with id {rest[0]} not found.")
        if len(rest) == 1:
            return Reply.json(200, run.association())
        if rest[1:] != ["entry"]:
            raise CrestError(404, f"Resource 'recon/assoc/{'/'.join(rest)}' not found")
        with run.lock:
            entries = list(run.entries)
        return Reply.json(200, query_answer(entries, {"_queryFilter": "true", **query}, lambda o: o))

    # -- liveSync ----------------------------------------------------------------------------------------------
    def live_sync(self, source: str) -> dict[str, Any]:
        """``system/<conn>/<type>?_action=liveSync``: the stage record after the call (Unavailable raised)."""
        parts = source.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "system":
            raise CrestError(400, f"liveSync needs a source system/<connector>/<type>, not {source!r}")
        source = "/".join(parts)
        stage = stage_id(source)
        with self._lock:
            lock = self._source_locks.setdefault(stage, threading.Lock())
        with lock:
            current = self.repo.stage(stage)
            token = current["connectorData"].get("syncToken") if current else None
            run = LiveSyncRun(source, stage, first=token is None)
            with self._lock:
                self.livesyncs.append(run)
                del self.livesyncs[:-_KEEP_LIVESYNC]
            try:
                changes, link = self._delta(parts[1], parts[2], str(token) if token else None)
                if changes:
                    mappings = [m for m in self.mappings() if m.get("source") == source]
                    run_livesync_changes(run, mappings, changes, self, self.repo,
                                         lambda i: self._one(parts[1], parts[2], i))
                record = self.repo.put_stage(stage, link)
                run.state = "SUCCESS"
                return record
            except Exception as exc:
                run.state, run.error = "FAILED", str(exc) or type(exc).__name__
                raise
            finally:
                run.ended = time.time()
                self._save()

    # -- /openidm/repo ------------------------------------------------------------------------------------------
    def _repo_route(self, method: str, rest: list[str], query: dict[str, str]) -> Reply:
        if rest[:1] == ["link"]:
            with self.repo.lock:
                links = [dict(v) for v in self.repo.links.values()]
            if len(rest) == 1 and method == "GET":
                return Reply.json(200, query_answer(links, query, lambda o: o))
            found = next((link for link in links if len(rest) == 2 and link["_id"] == rest[1]), None)
            if found is None:
                raise CrestError(404, f"Resource 'repo/{'/'.join(rest)}' not found")
            if method == "GET":
                return Reply.json(200, found)
            if method == "DELETE":
                self.repo.unlink(found["_id"])
                self._save()
                return Reply.json(200, found)
        if rest[:2] == ["synchronisation", "pooledSyncStage"] and len(rest) == 3:
            if method == "GET":
                stage = self.repo.stage(rest[2])
                if stage is None:
                    raise CrestError(404, f"Resource 'repo/{'/'.join(rest)}' not found")
                return Reply.json(200, stage)
            if method == "DELETE":  # the console's "reset sync token"
                stage = self.repo.delete_stage(rest[2])
                if stage is None:
                    raise CrestError(404, f"Resource 'repo/{'/'.join(rest)}' not found")
                self._save()
                return Reply.json(200, stage)
        raise CrestError(404, f"Resource 'repo/{'/'.join(rest)}' not found")

    # -- /openidm/scheduler ------------------------------------------------------------------------------------
    def _schedules(self) -> dict[str, dict[str, Any]]:
        with self.config.lock:
            keys = [k for k in self.config.objects if k.startswith("schedule/")]
        return {k.split("/", 1)[1]: found for k in keys if (found := self.config.get(k)) is not None}

    def _invoke(self, config: dict[str, Any]) -> dict[str, Any]:
        service = str(config.get("invokeService") or "").rsplit(".", 1)[-1]
        context = config.get("invokeContext") if isinstance(config.get("invokeContext"), dict) else {}
        context = context or {}
        if service == "sync":
            run = self.start_recon(str(context.get("mapping")), wait=True)
            return {"recon": run.id, "state": run.state}
        if service == "provisioner":
            self.live_sync(str(context.get("source")))
            return {"liveSync": str(context.get("source"))}
        return {"error": f"invokeService {service!r} is not run by the emulator (sync and provisioner are)"}

    def _scheduler_route(self, method: str, rest: list[str], query: dict[str, str],
                         headers: dict[str, str], body: bytes) -> Reply:
        action = query.get("_action")
        if action == "validateQuartzCronExpression" and method == "POST" and rest in ([], ["job"]):
            data = json_body(body)
            text = data.get("cronExpression") if isinstance(data, dict) else None
            try:
                QuartzCron.parse(str(text or ""))
            except CronError:
                return Reply.json(200, {"valid": False})
            return Reply.json(200, {"valid": True})
        if rest[:1] != ["job"]:
            raise CrestError(404, f"Resource 'scheduler/{'/'.join(rest)}' not found")
        schedules = self._schedules()
        self.scheduler.refresh(_utcnow())
        if len(rest) == 1 and method == "GET":
            views = [job_view(n, c, self.scheduler.jobs.get(n)) for n, c in sorted(schedules.items())]
            return Reply.json(200, query_answer(views, {"_queryFilter": "true", **query}, lambda o: o))
        if len(rest) != 2 or rest[1] not in schedules:
            raise CrestError(404, f"Schedule {rest[-1]} not found")
        name = rest[1]
        if method == "GET":
            return Reply.json(200, job_view(name, schedules[name], self.scheduler.jobs.get(name)))
        if method == "POST" and action == "trigger":
            if "resource=1.0" in headers.get("accept-api-version", "").replace(" ", ""):
                raise CrestError(501, "Action trigger is not supported by resource version 1.0")
            self.scheduler.fire(name, schedules[name])
            return Reply.json(200, {"success": True})
        raise CrestError(400, f"Unsupported request {method} on scheduler/job/{name}")

    # -- admin --------------------------------------------------------------------------------------------------
    def livesync_view(self) -> dict[str, Any]:
        with self._lock:
            return {"runs": [r.view() for r in self.livesyncs]}

    def scheduler_view(self) -> dict[str, Any]:
        schedules = self._schedules()
        self.scheduler.refresh(_utcnow())
        with self.scheduler.lock:
            return {"jobs": [{**job_view(n, c, self.scheduler.jobs.get(n)),
                              "lastResult": dict(self.scheduler.jobs[n].last_result) if n in self.scheduler.jobs
                              else {}} for n, c in sorted(schedules.items())]}

    def reset(self) -> None:
        self.repo.load({})
        with self._lock:
            for run in self.recons.values():
                run.cancelled.set()
            self.recons.clear()
            self.livesyncs.clear()

    def route(self, method: str, parts: list[str], raw_query: str, headers: dict[str, str], body: bytes) -> Reply:
        """``/openidm/{recon,repo,scheduler}/…`` (``parts`` starts with that segment)."""
        query = query_params(raw_query)
        head, rest = parts[0], parts[1:]
        if head == "recon":
            return self._recon_route(method, rest, query, body)
        if head == "repo":
            return self._repo_route(method, rest, query)
        return self._scheduler_route(method, rest, query, headers, body)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
