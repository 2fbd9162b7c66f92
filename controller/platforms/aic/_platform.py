"""The ``aic`` platform: plan against a live PingOne Advanced Identity Cloud tenant, and apply safely.

Planning renders the resources (``_render.py``), reads every object idmctl owns or would write, plus
``config/sync`` and the ``mapping/`` listing to find name clashes, normalises away what the tenant
manages itself (``_id``, ``_rev``, relationship metadata, ESV load state and versions) and compares
canonical JSON (``reference/aic-rest-api.md`` §2.1: config has no ``_rev``, so content is the only
conflict check). Drift is the live object against what the state recorded idmctl wrote
(``StateBackend.platform_objects``); an object at a desired id that the state does not record is
someone else's and is never changed or deleted.

Applying follows the fixed order of §0: ESVs; the restart and its wait (bounded, refused while one
runs, deferrable); the connector and its test; the mapping; the application; the schedule; deletes
in reverse order. Every write is confirmed by a read-back (AIC writes can lag or be lost, §2.1) and
recorded in the state the moment it is confirmed.

Runs happen on the tenant: a full recon (analysed first, ``analyze=true``, when its policies can delete
or unlink, so that the mapping's ``safety`` limits block it before anything is written), a liveSync for
an incremental run, an analysis for a dry run; each polled to its end, reported as an embedded run is
(``_runs.py`` maps the tenant's summary) and recorded in the state under the tenant's recon id.
Identities are ``managed/<realm>_user``; schedules are the tenant's, which it fires itself.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import itertools
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from controller.backends import (
    JsonObject,
    LockLease,
    ManagedObject,
    PlatformObject,
    RunEntry,
    RunRecord,
    StateBackend,
    format_time,
)
from controller.config import ResourceSet, canonical_hash, secret_fingerprint
from controller.config.models import AicPlatformSpec, RunMode, RunState
from controller.connectors import ConnectionReport, SourcePreview, pick_connector, preview_columns
from controller.connectors.msgraph import ReadOutcome
from controller.errors import (
    ConnectorError,
    IdmctlError,
    LockLost,
    PlatformError,
    ReconError,
    RestartError,
    UsageError,
)
from controller.filters import parse_filter
from controller.plan import ChangeAction, NativeChange, Plan, native_change
from controller.platforms._entries import check_entry_filters
from controller.platforms._protocol import (
    DEFAULT_PAGE,
    ApplyOptions,
    ApplyReport,
    CancelCheck,
    LivePlan,
    Page,
    ProgressFactory,
    ReconRequest,
    RunLogger,
)
from controller.platforms.aic._api import TenantApi
from controller.platforms.aic._render import (
    NativeObject,
    connector_name,
    mapping_name,
    query_filter,
    render_resources,
    resolve_owners,
)
from controller.platforms.aic._runs import (
    TERMINAL,
    count,
    destructive,
    entry_filter,
    plan_item,
    recon_record,
    recon_run,
    run_entry,
    stage_path,
)
from controller.platforms.aic._schedules import schedule_row
from controller.recon import (
    CompiledMapping,
    Progress,
    ReconRun,
    RunRecorder,
    applied_resources,
    cancel_check,
    compile_mapping,
    override_audit,
    safety_block,
)
from controller.scheduler import schedule_preview

__all__ = ["ESV_KINDS", "WRITE_ATTEMPTS", "AicPlatform"]

ESV_KINDS = frozenset({"variable", "secret"})
WRITE_ATTEMPTS = 5  # PUTs of one object before apply says the tenant did not keep it (TFA confirms 6 times)
_KIND_ORDER = ("variable", "secret", "connector", "mapping", "application", "schedule")
_FIRST_POLL, _MAX_POLL = 0.5, 5.0  # seconds between restart status reads: 0.5, 1, 2, 4, 5, 5, ...
_FIRST_RECON_POLL, _MAX_RECON_POLL = 0.2, 2.0  # seconds between recon/<id> reads: 0.2, 0.4, ... 2, 2
_CANCEL_WAIT = 120.0  # seconds a canceled run may take to end on the tenant before idmctl stops waiting
_LOCK_WAIT = 10.0  # seconds a person's prune waits for a run to end

Sleep = Callable[[float], None]
Clock = Callable[[], float]


# --- normalising what the tenant sends -----------------------------------------------------------------


def _strip(body: Mapping[str, Any], *keys: str) -> JsonObject:
    return {k: copy.deepcopy(v) for k, v in body.items() if k not in keys}


def _normal_config(body: Mapping[str, Any]) -> JsonObject:
    """A config object without what the config service manages: ``_id`` (and a ``_rev`` it never keeps)."""
    return _strip(body, "_id", "_rev")


def _normal_reference(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    out = _strip(item, "_refResourceCollection", "_refResourceId", "_id", "_rev")
    if isinstance(out.get("_refProperties"), dict):
        out["_refProperties"] = _strip(out["_refProperties"], "_id", "_rev")
    return out


def _normal_managed(body: Mapping[str, Any]) -> JsonObject:
    """A managed object without ``_id``/``_rev`` and with its relationships as idmctl writes them."""
    out = _strip(body, "_id", "_rev")
    for key, value in out.items():
        if isinstance(value, list) and any(isinstance(v, dict) and "_ref" in v for v in value):
            out[key] = [_normal_reference(v) for v in value]
    return out


def _decoded(value_base64: Any) -> Any:
    if not isinstance(value_base64, str):
        return value_base64
    try:
        return base64.b64decode(value_base64, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return value_base64


def _normal_variable(body: Mapping[str, Any]) -> JsonObject:
    """An ESV variable as idmctl compares it: its value decoded, load state and change stamps dropped."""
    return {"description": body.get("description"), "expressionType": body.get("expressionType"),
            "value": _decoded(body.get("valueBase64"))}


def _pending(kind: str, live: Mapping[str, Any]) -> bool:
    """Whether the tenant has not loaded an ESV yet (§4.3): a variable until ``loaded``, a secret
    (used in placeholders) while its loaded version is not its active one."""
    if kind == "variable":
        return live.get("loaded") is False
    if live.get("useInPlaceholders") is False:
        return False
    if live.get("loaded") is False:
        return True
    active, loaded = live.get("activeVersion"), live.get("loadedVersion")
    return active is not None and str(active) != str(loaded)


def _secret_ref(name: str, fingerprint: str | None) -> JsonObject:
    return {"sensitive": True, "secret": name, "fingerprint": fingerprint}


def _sync_token(stage: Mapping[str, Any]) -> Any:
    data = stage.get("connectorData")
    return data.get("syncToken") if isinstance(data, dict) else None


def _analysing(progress: Progress) -> Progress:
    """The progress of the guard's analysis, labelled as such (the real run reports its own afterwards)."""
    def report(phase: str, done: int, total: int | None) -> None:
        progress(f"safety analysis, {phase} phase", done, total)
    return report


def _now_text() -> str:
    return format_time(time.time())


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class _Desired:
    """One native object apply would write: the rendering, the body it PUTs, the body it compares."""

    obj: NativeObject
    write: JsonObject  # what is sent (owners resolved); for an ESV its record, without the value
    compare: JsonObject  # normalised: what the read-back must show and what the state records

    @property
    def id(self) -> str:
        return self.obj.id

    @property
    def kind(self) -> str:
        return self.obj.kind


@dataclass
class _Live:
    """What the tenant holds for every id read: normalised (``bodies``) and as it answered (``raw``)."""

    bodies: dict[str, JsonObject | None]
    raw: dict[str, JsonObject | None]

    @property
    def digest(self) -> str:
        return canonical_hash(self.bodies)


class AicPlatform:
    """The aic platform of one environment: ``tenant`` is its tenant, ``backend`` its state."""

    type = "aic"

    def __init__(self, root: Path, backend: StateBackend, spec: AicPlatformSpec,
                 tenant: TenantApi | Callable[[], TenantApi], working: ResourceSet | None = None, *,
                 sleep: Sleep = time.sleep, clock: Clock = time.monotonic,
                 write_attempts: int = WRITE_ATTEMPTS) -> None:
        """``tenant``: the tenant, or what connects to it on first use (so that commands that do not
        reach the tenant never read the service account's key)."""
        self.root = root
        self.backend = backend
        self.spec = spec
        self._tenant: TenantApi | None = tenant if isinstance(tenant, TenantApi) else None
        self._connect = None if isinstance(tenant, TenantApi) else tenant
        self.working = working
        self.env = backend.env
        self.realm = spec.realm
        self._sleep = sleep
        self._clock = clock
        self._attempts = write_attempts

    @property
    def tenant(self) -> TenantApi:
        if self._tenant is None:
            assert self._connect is not None
            self._tenant = self._connect()
        return self._tenant

    # --- what idmctl would write -------------------------------------------------------------------

    def _owner_ids(self, user_names: Iterable[str], address: str) -> dict[str, str]:
        ids: dict[str, str] = {}
        for user in dict.fromkeys(user_names):
            found = list(self.tenant.query_managed(f"{self.realm}_user", f"userName eq {_quoted(user)}",
                                                   fields=("_id", "userName")))
            if len(found) != 1:
                what = "no" if not found else f"{len(found)}"
                raise UsageError(
                    f"{address}: owner {user!r} matches {what} managed/{self.realm}_user on {self.tenant.tenant_url}; "
                    "an application owner must be exactly one identity",
                    hint="Use the userName of an existing identity in spec.owners (Identities > Manage on the "
                    "tenant), or create it first")
            ids[user] = str(found[0]["_id"])
        return ids

    def _desired(self, resources: ResourceSet, fingerprint_key: bytes | None) -> list[_Desired]:
        rendering = render_resources(resources, self.realm)
        out: list[_Desired] = []
        for obj in rendering.objects:
            if obj.kind == "variable":
                write = dict(obj.body)
                compare = {"description": obj.body.get("description"),
                           "expressionType": obj.body.get("expressionType"), "value": obj.value}
            elif obj.kind == "secret":
                assert obj.secret is not None
                # Its value is read for the fingerprint only; None where it is not available ("not checked").
                fingerprint = (secret_fingerprint(fingerprint_key, resources.secret(obj.secret))
                               if fingerprint_key is not None and resources.secret_available(obj.secret) else None)
                write = dict(obj.body)
                compare = {"encoding": obj.body.get("encoding"), "useInPlaceholders": obj.body.get("useInPlaceholders"),
                           "value": _secret_ref(obj.secret, fingerprint)}
            elif obj.kind == "application":
                users = [str(o["_ref"]).split("{userName=", 1)[1][:-1] for o in obj.body.get("owners", [])
                         if "{userName=" in str(o.get("_ref", ""))]
                write = resolve_owners(obj.body, self._owner_ids(users, obj.address))
                compare = _normal_managed(write)
            else:
                write = dict(obj.body)
                compare = _normal_config(write)
            out.append(_Desired(obj, write, compare))
        return out

    # --- what the tenant holds ---------------------------------------------------------------------

    def _read(self, native_id: str, kind: str, recorded: PlatformObject | None) -> tuple[JsonObject | None,
                                                                                           JsonObject | None]:
        """(normalised, as sent) of one object; an ESV secret's value is what the state recorded."""
        if kind == "variable":
            raw = self.tenant.read_variable(native_id)
            return (None if raw is None else _normal_variable(raw)), raw
        if kind == "secret":
            raw = self.tenant.read_secret(native_id)
            if raw is None:
                return None, None
            value: JsonObject = _secret_ref(native_id, None)
            if recorded is not None and isinstance(recorded.body.get("value"), dict):
                value = copy.deepcopy(recorded.body["value"])
            return {"encoding": raw.get("encoding"), "useInPlaceholders": raw.get("useInPlaceholders"),
                    "value": value}, raw
        if kind == "application":
            raw = self.tenant.read_managed(native_id.removeprefix("managed/"))
            return (None if raw is None else _normal_managed(raw)), raw
        raw = self.tenant.read_config(native_id)
        return (None if raw is None else _normal_config(raw)), raw

    def _read_live(self, ids: Mapping[str, str], recorded: Mapping[str, PlatformObject]) -> _Live:
        live = _Live({}, {})
        for native_id, kind in ids.items():
            live.bodies[native_id], live.raw[native_id] = self._read(native_id, kind, recorded.get(native_id))
        return live

    def _check_clashes(self, desired: Sequence[_Desired], live: _Live,
                       recorded: Mapping[str, PlatformObject]) -> None:
        """Refuse to plan over objects idmctl does not own, and over a mapping ``sync`` also holds."""
        names = {d.write.get("name"): d for d in desired if d.kind == "mapping"}
        sync = self.tenant.read_config("sync") or {}
        for entry in sync.get("mappings") or []:
            name = entry.get("name") if isinstance(entry, dict) else None
            if name in names:
                raise PlatformError(
                    f"{names[name].obj.address}: the tenant's config/sync already holds a mapping named {name!r}; "
                    f"with mapping/{name} as well, IDM would run both, and idmctl never rewrites sync (that "
                    "reorders and clobbers other mappings)", path="/openidm/config/sync", code="name-clash",
                    hint=f"Remove {name!r} from sync on the tenant (or adopt it with `idmctl import --env "
                    f"{self.env}`), or pin another name in the Mapping's spec.aic.name")
        listed = {str(m.get("_id")) for m in self.tenant.query_config("mapping/")}
        for item in desired:
            exists = live.bodies.get(item.id) is not None or item.id in listed
            if exists and item.id not in recorded:
                pin = "spec.aic.id" if item.kind == "application" else (
                    "the Connector's spec.aic.name" if item.kind in ESV_KINDS else "spec.aic.name")
                raise PlatformError(
                    f"{item.obj.address}: {item.id} already exists on {self.tenant.tenant_url} and idmctl did not "
                    "write it; idmctl never changes or deletes an object it does not own",
                    path=item.obj.path, code="not-owned",
                    hint=f"Adopt it with `idmctl import --env {self.env}`, or pin another name in {pin}")

    # --- planning ----------------------------------------------------------------------------------

    def _live_plan(self, desired_objects: list[_Desired]) -> tuple[LivePlan, _Live]:
        recorded = self.backend.platform_objects()
        ids = {d.id: d.kind for d in desired_objects}
        ids.update({i: o.kind for i, o in recorded.items() if i not in ids})
        live = self._read_live(ids, recorded)
        self._check_clashes(desired_objects, live, recorded)
        native: list[NativeChange] = []
        for item in desired_objects:
            change = native_change(item.id, item.kind, item.obj.address, live.bodies[item.id], item.compare,
                                   restart_required=item.kind in ESV_KINDS)
            if change is not None:
                native.append(change)
        wanted = {d.id for d in desired_objects}
        gone = sorted((o for i, o in recorded.items() if i not in wanted and live.bodies.get(i) is not None),
                      key=lambda o: (-_KIND_ORDER.index(o.kind), o.id))
        for obj in gone:
            change = native_change(obj.id, obj.kind, obj.address, live.bodies[obj.id], None)
            if change is not None:
                native.append(change)
        drift = [change for i, obj in sorted(recorded.items())
                 if (change := native_change(i, obj.kind, obj.address, obj.body, live.bodies.get(i))) is not None]
        pending = tuple(i for i in ids if ids[i] in ESV_KINDS and i in wanted and (raw := live.raw.get(i)) is not None
                        and _pending(ids[i], raw))
        return LivePlan(self.type, tuple(native), tuple(drift), live.digest, pending), live

    def plan_live(self, desired: ResourceSet, fingerprint_key: bytes) -> LivePlan:
        return self._live_plan(self._desired(desired, fingerprint_key))[0]

    def adopt(self, resources: ResourceSet, lease: LockLease) -> list[str]:
        """Record the objects of ``resources`` the tenant holds as idmctl's, as they are now (``import``).

        What idmctl "last wrote" becomes what the tenant has, so the next plan shows exactly what the
        files would change (the fields import could not express) and no drift. An ESV secret is taken to
        hold the value its source holds now (AIC never shows it). Objects recorded already stay as they are.
        """
        recorded = self.backend.platform_objects()
        adopted: dict[str, PlatformObject | None] = {}
        for item in self._desired(resources, self.backend.fingerprint_key):
            live = None if item.id in recorded else self._read(item.id, item.kind, None)[0]
            if live is None:
                continue
            if item.kind == "secret":
                live = {**live, "value": item.compare["value"]}
            adopted[item.id] = PlatformObject(item.id, item.kind, item.obj.address, canonical_hash(live), live,
                                              format_time(time.time()))
        if adopted:
            self.backend.record_platform_objects(adopted, lease=lease)
        return sorted(adopted)

    # --- applying ----------------------------------------------------------------------------------

    def _progress(self, options: ApplyOptions, line: str) -> None:
        if options.progress is not None:
            options.progress(line)

    def _confirm(self, item_id: str, kind: str, path: str, write: Callable[[], None],
                 expected: JsonObject | None, recorded: PlatformObject | None) -> None:
        """PUT (or delete), read back, compare; again with back-off until the tenant keeps it."""
        for attempt in range(self._attempts):
            write()
            got, _ = self._read(item_id, kind, recorded)
            if kind == "secret" and got is not None and expected is not None:
                got = {**got, "value": expected["value"]}  # write-only: the tenant never shows the value
            if got == expected:
                return
            if attempt + 1 < self._attempts:
                self._sleep(0.5 * 2 ** attempt)
        action = "deletion" if expected is None else "write"
        raise PlatformError(
            f"the tenant did not keep the {action} of {item_id}: after {self._attempts} attempts its read-back "
            f"still differs; what was confirmed before it is recorded in the state", path=path, code="write-lost",
            hint="Run apply again (it resumes from what the state records); if it persists, check the tenant's "
            "health and whether another tool writes the same object")

    def _record(self, item: _Desired, lease: LockLease) -> None:
        obj = PlatformObject(item.id, item.kind, item.obj.address, canonical_hash(item.compare),
                             copy.deepcopy(item.compare), format_time(time.time()))
        self.backend.record_platform_objects({item.id: obj}, lease=lease)

    def _write(self, item: _Desired, resources: ResourceSet, recorded: PlatformObject | None) -> None:
        tenant = self.tenant
        if item.kind == "variable":
            def write() -> None:
                tenant.put_variable(item.id, value=str(item.obj.value), description=str(item.write["description"]),
                                    expression_type=str(item.write["expressionType"]))
        elif item.kind == "secret":
            def write() -> None:
                assert item.obj.secret is not None
                value = resources.secret(item.obj.secret)  # read from its source here only
                if tenant.read_secret(item.id) is None:
                    tenant.create_secret(item.id, value=value, description=str(item.write["description"]),
                                         encoding=str(item.write["encoding"]),
                                         use_in_placeholders=bool(item.write["useInPlaceholders"]))
                else:
                    tenant.add_secret_version(item.id, value)
        elif item.kind == "application":
            path = item.id.removeprefix("managed/")

            def write() -> None:
                live = tenant.read_managed(path)
                if live is None:
                    tenant.put_managed(path, item.write, create_only=True)
                else:
                    tenant.put_managed(path, item.write, if_match=str(live.get("_rev", "*")))
        else:
            def write() -> None:
                tenant.put_config(item.id, item.write)
        self._confirm(item.id, item.kind, item.obj.path, write, item.compare, recorded)

    def _delete(self, obj: PlatformObject) -> None:
        tenant = self.tenant

        def delete() -> None:
            if obj.kind == "variable":
                tenant.delete_variable(obj.id)
            elif obj.kind == "secret":
                tenant.delete_secret(obj.id)
            elif obj.kind == "application":
                tenant.delete_managed(obj.id.removeprefix("managed/"))
            else:
                tenant.delete_config(obj.id)

        self._confirm(obj.id, obj.kind, obj.id, delete, None, obj)

    def _refuse_while_restarting(self) -> None:
        status = self.tenant.restart_status()
        if status != "ready":
            raise RestartError(
                f"a restart of {self.tenant.tenant_url} is already running (status {status!r}): ESVs cannot be "
                "loaded until it ends; the state records what this apply wrote so far", path="/environment/startup",
                code="restarting", hint="Wait until it finishes (a few minutes), then run apply again")

    def _restart(self, options: ApplyOptions) -> None:
        """Restart the tenant and wait until it is ``ready``, bounded by ``restartTimeoutSeconds``."""
        url = self.tenant.tenant_url
        self._refuse_while_restarting()
        self.tenant.restart()
        started, wait = self._clock(), _FIRST_POLL
        timeout = self.spec.restartTimeoutSeconds
        self._progress(options, f"Restarting {url} to load the ESVs (up to {timeout:g}s)...")
        while True:
            status = self.tenant.restart_status()
            elapsed = self._clock() - started
            if status == "ready":
                self._progress(options, f"The tenant is ready again after {elapsed:.0f}s.")
                return
            if elapsed >= timeout:
                raise RestartError(
                    f"the restart of {url} did not reach ready within {timeout:g}s (status {status!r}); the ESVs "
                    "are written and recorded, the connector and what follows it are not", path="/environment/startup",
                    code="restart-timeout",
                    hint="Wait until `restartStatus` is ready, then run apply again; raise platform."
                    "restartTimeoutSeconds if the tenant routinely takes longer")
            if elapsed > 0:
                self._progress(options, f"  still {status} after {elapsed:.0f}s...")
            self._sleep(wait)
            wait = min(wait * 2, _MAX_POLL)

    def _test_connector(self, name: str) -> None:
        answer = self.tenant.test_connector(name)
        if not answer.get("ok"):
            error = answer.get("error") or "no reason given"
            raise PlatformError(
                f"connector {name} on {self.tenant.tenant_url} failed its test: {error}; nothing after it (mapping, "
                "application, schedule) was written", path=f"/openidm/system/{name}", code="connector-test",
                hint="Check the ESV values (tenant id, client id, client secret) and the Entra app registration, "
                f"then run apply again; `idmctl connector test --env {self.env}` tells more")

    def apply(self, plan: Plan, applied: ResourceSet, lease: LockLease,
              options: ApplyOptions | None = None) -> ApplyReport:
        written: list[str] = []
        deleted: list[str] = []
        try:
            return self._apply(plan, applied, lease, options or ApplyOptions(), written, deleted)
        except IdmctlError as exc:
            if (written or deleted) and not isinstance(exc, LockLost):
                # The audit says what reached the tenant before it stopped (native ids only).
                with contextlib.suppress(IdmctlError):
                    self.backend.audit("apply-failed", f"apply stopped on {self.tenant.tenant_url} after "
                                       f"{len(written)} write(s) and {len(deleted)} deletion(s): {exc.message}",
                                       details={"written": written, "deleted": deleted}, lease=lease)
            raise

    def _apply(self, plan: Plan, applied: ResourceSet, lease: LockLease, options: ApplyOptions,
               written: list[str], deleted: list[str]) -> ApplyReport:
        desired = self._desired(applied, self.backend.fingerprint_key)
        by_id = {d.id: d for d in desired}
        recorded = self.backend.platform_objects()
        changes = {c.id: c for c in plan.native}
        tests: list[tuple[str, str]] = []

        def write(item: _Desired) -> None:
            self._write(item, applied, recorded.get(item.id))
            self._record(item, lease)
            written.append(item.id)

        # 1. ESV variables and secrets (refused before any write while a restart runs: they could not load)
        esvs = [d for d in desired if d.kind in ESV_KINDS]
        if options.restart and any(d.id in changes for d in esvs):
            self._refuse_while_restarting()
        for item in esvs:
            if item.id in changes:
                write(item)
        # 2. the restart, when an ESV was written or the tenant has not loaded one
        pending = [d.id for d in esvs if (raw := self._read(d.id, d.kind, None)[1]) is not None
                   and _pending(d.kind, raw)]
        restarted = False
        if written or pending:
            if options.restart:
                self._restart(options)
                restarted, pending = True, []
            elif pending:
                self._progress(options, f"--no-restart: {len(pending)} ESV(s) stay pending until a restart")
        # 3. the connector, then its test; 4. the mapping; 5. the application; 6. the schedule
        for kind in ("connector", "mapping", "application", "schedule"):
            for item in (d for d in desired if d.kind == kind):
                if item.id in changes:
                    write(item)
                if kind == "connector":
                    name = item.id.removeprefix("provisioner.openicf/")
                    if pending:
                        tests.append((name, f"skipped: {len(pending)} ESV(s) are pending a restart "
                                            "(--no-restart), so the connector cannot use them yet"))
                    else:
                        self._test_connector(name)
                        tests.append((name, "Connected"))
        # deletes, in reverse order; then forget what is gone anyway, and re-record what matches again
        for change in (c for c in plan.native if c.action is ChangeAction.DELETE and c.id in recorded):
            self._delete(recorded[change.id])
            self.backend.record_platform_objects({change.id: None}, lease=lease)
            deleted.append(change.id)
        stale = [i for i in recorded if i not in by_id and i not in deleted]
        for item in desired:
            old = recorded.get(item.id)
            if item.id not in changes and old is not None and old.body != item.compare and \
                    not (item.kind == "secret" and item.compare["value"].get("fingerprint") is None):
                self._record(item, lease)  # the tenant matches the files again: what idmctl wrote is that
        gone = [i for i in stale if self._read(i, recorded[i].kind, recorded[i])[0] is None]
        if gone:
            self.backend.record_platform_objects(dict.fromkeys(gone), lease=lease)
        return ApplyReport(tuple(written), tuple(deleted), restarted, tuple(pending), tuple(tests))

    # --- identities and connectors ----------------------------------------------------------------

    def missing_identities(self, user_names: Sequence[str]) -> list[str]:
        missing = []
        for user in user_names:
            found = next(iter(self.tenant.query_managed(f"{self.realm}_user", f"userName eq {_quoted(user)}",
                                                        fields=("_id",), page_size=1)), None)
            if found is None:
                missing.append(user)
        return missing

    def connector_test(self, resources: ResourceSet, name: str | None) -> ConnectionReport:
        if not resources.connectors:
            raise UsageError(f"environment {self.env!r} has no Connector", hint="Add a Connector resource")
        if name is None:
            if len(resources.connectors) > 1:
                raise UsageError(f"environment {self.env!r} has several connectors: name one",
                                 hint=f"One of: {', '.join(sorted(resources.connectors))}")
            name = next(iter(resources.connectors))
        connector = resources.connectors.get(name)
        if connector is None:
            raise UsageError(f"environment {self.env!r} has no Connector {name!r}",
                             hint=f"One of: {', '.join(sorted(resources.connectors))}")
        native = connector_name(connector)
        request = f"POST /openidm/system/{native}?_action=test"
        answer = self.tenant.test_connector(native)
        ok = bool(answer.get("ok"))
        error = None if ok else ConnectorError(
            f"the tenant's connector {native} is not connected: {answer.get('error') or 'no reason given'}",
            code="connector-test", hint="Check the ESVs idmctl wrote (tenant id, client id, client secret) and "
            f"run `idmctl apply --env {self.env}` if a restart is pending")
        return ConnectionReport(connector=name, authority=self.tenant.tenant_url, graph_url=connector.spec.graphUrl,
                                client_id=str(connector.spec.clientId), scope=" ".join(self.spec.scopes), token_ok=True,
                                read=ReadOutcome(ok, request, error))

    # --- runs on the tenant ------------------------------------------------------------------------

    def _applied_mapping(self, mapping: str) -> tuple[ResourceSet, CompiledMapping, str, str, str]:
        """The applied mapping ``mapping``: (applied, compiled, native mapping name, connector's native
        name, its object type)."""
        applied = applied_resources(self.backend, self.root)
        resource = applied.mappings.get(mapping)
        if resource is None:
            known = ", ".join(sorted(applied.mappings)) or "none"
            raise ReconError(f"mapping {mapping!r} is not applied in environment {self.env!r} (applied: {known})",
                             hint=f"Add it to the environment's files, then `idmctl apply --env {self.env}`")
        compiled = compile_mapping(mapping, resource.spec)
        connector = applied.connectors.get(resource.spec.source.connector)
        if connector is None:
            raise ReconError(f"mapping {mapping!r} reads connector {resource.spec.source.connector!r}, which is "
                             "not applied", hint=f"Declare the Connector and run `idmctl apply --env {self.env}`")
        return (applied, compiled, mapping_name(resource, applied), connector_name(connector),
                resource.spec.source.objectType)

    def _watch(self, recon_id: str, progress: Progress | None, cancel: CancelCheck) -> JsonObject:
        """Poll ``recon/<id>`` until it ends; a cancel (Ctrl-C, SIGTERM) cancels it on the tenant first."""
        wait, canceled_at = _FIRST_RECON_POLL, None
        while True:
            try:
                if canceled_at is None and cancel():
                    self.tenant.cancel_recon(recon_id)
                    canceled_at = self._clock()
                summary = self.tenant.read_recon(recon_id)
                if summary is None:
                    raise PlatformError(f"the tenant no longer knows reconciliation {recon_id}",
                                        path=f"/openidm/recon/{recon_id}", code="recon-gone",
                                        hint="See Reconciliation in the tenant's console")
                state = str(summary.get("state", ""))
                if state in TERMINAL:
                    return summary
                if canceled_at is not None and self._clock() - canceled_at > _CANCEL_WAIT:
                    return {**summary, "state": "CANCELED",
                            "stageDescription": f"canceled on the tenant, which had not ended it after "
                                                f"{_CANCEL_WAIT:g}s (stage {summary.get('stage')})"}
                if progress is not None:
                    target = "TARGET" in str(summary.get("stage", "")).upper()
                    phase = "target" if target else "source"
                    done = count(((summary.get("progress") or {}).get(phase) or {}).get("existing", {})
                                 .get("processed")) or 0
                    total = count(((summary.get("progress") or {}).get(phase) or {}).get("existing", {})
                                  .get("total"))
                    progress(phase, done, total)
                self._sleep(wait)
                wait = min(wait * 2, _MAX_RECON_POLL)
            except KeyboardInterrupt:  # a second Ctrl-C: cancel at once, and still wait for the tenant
                if canceled_at is None:
                    self.tenant.cancel_recon(recon_id)
                    canceled_at = self._clock()

    def _analysis(self, native: str, progress: Progress | None,
                  cancel: CancelCheck) -> tuple[JsonObject, list[JsonObject]]:
        """An ``analyze=true`` run (writes nothing) and its association entries."""
        started = self.tenant.start_recon(native, analyze=True, persist_associations=True)
        summary = self._watch(str(started["_id"]), progress, cancel)
        entries = list(self.tenant.recon_entries(str(summary["_id"]))) if summary.get("state") == "SUCCESS" else []
        return summary, entries

    def _verdict(self, run: ReconRun, compiled: CompiledMapping, summary: JsonObject,
                 allow_deletes: int | None, native: str) -> str | None:
        """The guard on an analysis's counts (``run`` is the analysis as a ``ReconRun``)."""
        if not run.linked:
            run.linked = sum(1 for _ in self.tenant.list_links(native))
        source_total = count(((summary.get("progress") or {}).get("source") or {}).get("existing", {})
                             .get("total"))
        empty = source_total == 0 and not compiled.safety.allow_empty_source
        prior = 0
        if compiled.safety.window_seconds is not None:
            since = datetime.now(UTC) - timedelta(seconds=compiled.safety.window_seconds)
            prior = self.backend.store().deletes_since(compiled.name, format_time(since.timestamp()))
        return safety_block(compiled.safety, deletes=run.deletes, linked=run.linked, empty_source=empty,
                            window_deletes=prior, allow_deletes=allow_deletes)

    def reconcile(self, request: ReconRequest, *, progress: Progress | None = None,
                  cancel: CancelCheck | None = None) -> ReconRun:
        """A run on the tenant: a full recon (analysed first when its policies can delete or unlink, and
        BLOCKED over the ``safety`` limits), a liveSync (``incremental``), or an analysis (``dry_run``)."""
        applied, compiled, native, system, object_type = self._applied_mapping(request.mapping)
        if request.reset_delta:
            raise UsageError("--reset-delta: the sync token of a tenant's liveSync is the tenant's own",
                             hint=f"Reset it in the tenant's console (the {system} connector's {object_type} "
                             "sync token), then run --incremental")
        check = cancel_check(cancel)
        policy = compiled.policy
        mode = RunMode(request.mode)
        warnings: list[str] = []
        full_because = None
        stage = stage_path(system, object_type)
        if mode is RunMode.INCREMENTAL and request.dry_run:
            full_because = ("a liveSync cannot be analysed without running it; this dry run is the analysis of "
                            "a full reconciliation")
            mode = RunMode.FULL
        if request.dry_run:
            summary, entries = self._analysis(native, progress, check)
            run = recon_run(summary, request.mapping, dry_run=True, policy=policy, entries=entries)
            run.full_because, run.warnings = full_because, warnings
            why = self._verdict(run, compiled, summary, request.allow_deletes, native) \
                if run.state is RunState.SUCCESS else None
            if why is not None:
                run.state, run.reason = RunState.BLOCKED, why
            run.plan = [item for e in entries if (item := plan_item(e, blocked=why is not None)) is not None]
            return run
        holder = request.holder or f"reconcile {request.mapping} ({mode})"
        with self.backend.lock(holder, request.lock_timeout) as lease, self.backend.store().fenced(lease):
            recorder = RunRecorder(self.backend.store(), holder=holder,
                                   audit_override=override_audit(self.backend, lease))
            if mode is RunMode.INCREMENTAL:
                if self.tenant.read_repo(stage) is not None:
                    run = self._live_sync(request, system, object_type, stage, recorder)
                    if destructive(policy):
                        run.warnings.append("the mapping's policies can delete or unlink, and the tenant applies a "
                                            "liveSync as it reads it: the safety guard cannot check an incremental "
                                            "run on AIC before it writes (full runs it does)")
                    return run
                full_because = (f"the tenant keeps no sync token for system/{system}/{object_type} yet (first "
                                "run): its first liveSync only records one, so this run is full")
                mode = RunMode.FULL
            if self.tenant.read_repo(stage) is None:
                # The token first, as an embedded full run takes its delta link before reading: a change
                # made during the run is brought by the next incremental one, not lost.
                try:
                    self.tenant.live_sync(system, object_type)
                    warnings.append(f"recorded the tenant's first sync token for system/{system}/{object_type}: "
                                    "incremental runs (liveSync) start from here")
                except IdmctlError as exc:  # the full run does not need it
                    warnings.append(f"the tenant could not record a first sync token for system/{system}/"
                                    f"{object_type} ({exc}); the next incremental run will be full")
            if destructive(policy):
                watching = None if progress is None else _analysing(progress)
                summary, entries = self._analysis(native, watching, check)
                analysis = recon_run(summary, request.mapping, policy=policy, entries=entries)
                if analysis.state is not RunState.SUCCESS:
                    analysis.warnings = warnings + [f"the analysis the safety guard runs first ended "
                                                    f"{analysis.state}: nothing was written"]
                    analysis.full_because = full_because
                    return analysis
                why = self._verdict(analysis, compiled, summary, request.allow_deletes, native)
                if why is not None:
                    blocked = ReconRun(id=analysis.id, mapping=request.mapping, mode=mode, state=RunState.BLOCKED,
                                       started=analysis.started, situations=analysis.situations,
                                       actions=analysis.actions, deletes=analysis.deletes, linked=analysis.linked,
                                       reason=why.replace("the delta link was not advanced",
                                                          "the tenant's reconciliation was not started"),
                                       full_because=full_because, warnings=warnings)
                    recorder.start(blocked)
                    blocked.ended = _now_text()
                    blocked.duration_ms = analysis.duration_ms
                    recorder.finish(blocked, delta_link=None, select_hash=compiled.select_hash, allow_deletes=None)
                    return blocked
            started = self.tenant.start_recon(native, persist_associations=True)
            run = ReconRun(id=str(started["_id"]), mapping=request.mapping, mode=mode, started=_now_text(),
                           full_because=full_because, requested_mode=RunMode(request.mode))
            recorder.start(run)
            try:
                summary = self._watch(run.id, progress, check)
                entries = list(self.tenant.recon_entries(run.id))
                done = recon_run(summary, request.mapping, mode=mode, policy=policy, entries=entries)
            except IdmctlError as exc:
                done = ReconRun(id=run.id, mapping=request.mapping, mode=mode, state=RunState.FAILED,
                                started=run.started, ended=_now_text(), reason=str(exc))
            done.full_because, done.requested_mode = full_because, RunMode(request.mode)
            done.warnings = run.warnings + warnings
            done.started = done.started or run.started
            recorder.finish(done, delta_link=None, select_hash=compiled.select_hash,
                            allow_deletes=request.allow_deletes)
            return done

    def _live_sync(self, request: ReconRequest, system: str, object_type: str, stage: str,
                   recorder: RunRecorder) -> ReconRun:
        """``--incremental``: one liveSync of the connector's type, reported with what the tenant says of it."""
        run = ReconRun(id=str(uuid.uuid4()), mapping=request.mapping, mode=RunMode.INCREMENTAL,
                       started=_now_text(), requested_mode=RunMode.INCREMENTAL)
        recorder.start(run)
        began = time.monotonic()
        before = self.tenant.read_repo(stage) or {}
        try:
            answer = self.tenant.live_sync(system, object_type)
        except IdmctlError as exc:
            run.state, run.reason = RunState.FAILED, str(exc)
        else:
            after = self.tenant.read_repo(stage) or answer
            counted = next((b for b in (answer, after) if isinstance(b.get("situationSummary"), dict)), None)
            if counted is not None:
                reported = recon_run({**counted, "state": "SUCCESS"}, request.mapping, mode=RunMode.INCREMENTAL,
                                     policy=None)
                run.situations, run.actions = reported.situations, reported.actions
                run.processed, run.failures, run.entries = reported.processed, reported.failures, reported.entries
            old, new = _sync_token(before), _sync_token(answer)
            new = new if new is not None else _sync_token(after)
            # Never the token itself: on MS Graph it is a delta link, long and of use to nobody reading.
            moved = "moved the sync token" if old != new else "left the sync token where it was (no changes)"
            run.warnings.append(
                f"liveSync of system/{system}/{object_type} {moved}"
                + ("" if counted is not None else "; the tenant reports no per-situation counts for a liveSync: "
                   f"check the identities (`idmctl identities search --env {self.env}`)"))
            run.state = RunState.SUCCESS
        run.ended = _now_text()
        run.duration_ms = int((time.monotonic() - began) * 1000)
        recorder.finish(run, delta_link=None, select_hash="", allow_deletes=None)
        return run

    def _native_names(self) -> dict[str, str]:
        """Native mapping name -> idmctl's, for the applied mappings."""
        state = self.backend.read_applied()
        if not state.resources:
            return {}
        applied = ResourceSet.from_canonical(state.resources, root=self.root)
        return {mapping_name(m, applied): name for name, m in applied.mappings.items()}

    def list_runs(self, mapping: str | None = None, limit: int | None = DEFAULT_PAGE,
                  offset: int = 0) -> Page[RunRecord]:
        """The runs idmctl recorded and the tenant's own (its schedules', the console's), newest first;
        ``labels`` says which is which (``recorded`` | ``tenant`` | ``analysis``: one that wrote nothing)."""
        store = self.backend.store()
        recorded = store.list_runs(mapping)
        known = {r.id for r in recorded}
        names = self._native_names()
        theirs, origin = [], dict.fromkeys(known, "recorded")
        for summary in self.tenant.list_recons():
            name = names.get(str(summary.get("mapping")), str(summary.get("mapping")))
            if str(summary.get("_id")) not in known and (mapping is None or name == mapping):
                theirs.append(recon_record(summary, name))
                # an analysis (analyze=true, the guard's or a dry run's) wrote nothing; where the tenant says so
                origin[theirs[-1].id] = "analysis" if summary.get("analyze") is True else "tenant"
        rows = sorted([*recorded, *theirs], key=lambda r: r.started, reverse=True)
        end = None if limit is None else offset + limit
        items = rows[offset:end]
        labels = {r.id: origin[r.id] for r in items}
        return Page(items, offset, len(rows), end is not None and len(rows) > end, labels)

    def show_run(self, run_id: str, *, situation: str | None = None, action: str | None = None,
                 status: str | None = None, limit: int | None = DEFAULT_PAGE,
                 offset: int = 0) -> tuple[RunRecord, Page[RunEntry]]:
        status = check_entry_filters(situation, action, status)
        run = self.backend.store().get_run(run_id)
        if run is None:
            names = self._native_names()
            found = [s for s in self.tenant.list_recons() if str(s.get("_id", "")).startswith(run_id)]
            if len(found) != 1:
                raise UsageError(f"no run {run_id!r} in environment {self.env!r} or on its tenant"
                                 + (" (the prefix is ambiguous)" if found else ""),
                                 hint=f"List runs with `idmctl runs list --env {self.env}`")
            summary = found[0]
            run = recon_record(summary, names.get(str(summary.get("mapping")), str(summary.get("mapping"))))
        entries: list[RunEntry] = []
        wanted = None if limit is None else offset + limit + 1
        if run.mode is RunMode.FULL:
            try:
                for seq, entry in enumerate(self.tenant.recon_entries(run.id, entry_filter(situation, action,
                                                                                           status)), 1):
                    entries.append(run_entry(entry, seq))
                    if wanted is not None and len(entries) >= wanted:
                        break
            except PlatformError as exc:
                if exc.status != 404:
                    raise  # 404: the tenant kept no associations for that run
        end = None if limit is None else offset + limit
        page = entries[offset:end]
        more = end is not None and len(entries) > end
        return run, Page(page, offset, None if more else offset + len(page), more)

    def prune_runs(self, *, keep: int | None = None, older_than_days: float | None = None,
                   mapping: str | None = None, dry_run: bool = False) -> list[str]:
        """The runs idmctl recorded (the tenant keeps its own as it sees fit)."""
        if keep is None and older_than_days is None:
            raise UsageError("runs prune needs --keep N or --older-than DAYS",
                             hint=f"For example: idmctl runs prune --env {self.env} --keep 50")
        store = self.backend.store()
        if dry_run:
            return store.prune_runs(keep=keep, older_than_days=older_than_days, mapping=mapping, dry_run=True)
        with self.backend.lock("runs prune", _LOCK_WAIT) as lease, store.fenced(lease):
            return store.prune_runs(keep=keep, older_than_days=older_than_days, mapping=mapping)

    # --- identities on the tenant ------------------------------------------------------------------

    @staticmethod
    def _identity(body: JsonObject) -> ManagedObject:
        """A tenant's object: its ``_rev`` is the tenant's string, kept in the properties (``to_dict`` shows it)."""
        rev = str(body.get("_rev", "0"))
        tail = rev.rsplit("-", 1)[-1]
        return ManagedObject(str(body["_id"]), int(tail) if tail.isdigit() else 0,
                             {k: v for k, v in body.items() if k != "_id"})

    def search_identities(self, query: str | None = None, limit: int | None = DEFAULT_PAGE,
                          offset: int = 0) -> Page[ManagedObject]:
        """``managed/<realm>_user`` with the filter as a ``_queryFilter`` (``!`` negation), by userName, cookie
        paged."""
        text = query_filter(parse_filter(query)) if query and query.strip() else "true"
        wanted = None if limit is None else offset + limit + 1
        size = 100 if wanted is None else max(1, min(wanted, 250))
        found: list[ManagedObject] = []
        for body in self.tenant.query_managed(f"{self.realm}_user", text, page_size=size, sort_keys=("userName",)):
            found.append(self._identity(body))
            if wanted is not None and len(found) >= wanted:
                break
        end = None if limit is None else offset + limit
        items = found[offset:end]
        more = end is not None and len(found) > end
        return Page(items, offset, None if more else offset + len(items), more)

    def _resolve_identity(self, object_id: str) -> JsonObject:
        kind = f"{self.realm}_user"
        body = self.tenant.read_managed(f"{kind}/{object_id}") if "/" not in object_id else None
        if body is not None:
            return body
        if len(object_id) >= 4 and "/" not in object_id:
            matches = list(itertools.islice(self.tenant.query_managed(
                kind, f"_id sw {_quoted(object_id)}", fields=("_id",), page_size=2), 2))
            if len(matches) == 2:
                raise UsageError(f"id prefix {object_id!r} is ambiguous on {self.tenant.tenant_url}: it starts "
                                 f"{matches[0]['_id']}, {matches[1]['_id']} and maybe more",
                                 hint="Give more characters of the id")
            if matches and (found := self.tenant.read_managed(f"{kind}/{matches[0]['_id']}")) is not None:
                return found
        raise UsageError(f"managed/{kind}/{object_id} does not exist on {self.tenant.tenant_url}",
                         hint=f"Find ids with `idmctl identities search --env {self.env}`")

    def get_identity(self, object_id: str) -> tuple[ManagedObject, list[tuple[str, str]]]:
        """One identity and its links as (mapping, source id), from ``repo/link`` of the applied mappings."""
        obj = self._identity(self._resolve_identity(object_id))
        links = [(name, str(link.get("firstId"))) for native, name in sorted(self._native_names().items())
                 for link in self.tenant.list_links(native) if str(link.get("secondId")) == obj.id]
        return obj, links

    def delete_identity(self, object_id: str, *, dry_run: bool = False) -> ManagedObject:
        """Delete one identity with ``If-Match`` its revision (a concurrent change makes it fail, not vanish)."""
        body = self._resolve_identity(object_id)
        obj = self._identity(body)
        if dry_run:
            return obj
        if not self.tenant.delete_managed(f"{self.realm}_user/{obj.id}", if_match=str(body.get("_rev", "*"))):
            raise UsageError(f"managed/{self.realm}_user/{obj.id} does not exist on {self.tenant.tenant_url} any more")
        return obj

    def connector_preview(self, resources: ResourceSet, name: str | None, limit: int) -> SourcePreview:
        """The console's Data tab: ``system/<conn>/User`` through the tenant's connector."""
        connector = pick_connector(resources, name)
        mappings, columns = preview_columns(resources, connector.metadata.name)
        select = [c.source for c in columns if c.source != "id"]
        rows: list[dict[str, Any]] = []
        for obj in self.tenant.query_system(connector_name(connector), "User", "true", fields=select,
                                            page_size=max(1, min(limit + 1, 250))):
            rows.append({"id": obj.get("_id"), **{a: obj.get(a) for a in select}})
            if len(rows) > limit:
                break
        return SourcePreview(connector.metadata.name, mappings, columns, tuple(rows[:limit]), len(rows) > limit)

    # --- schedules on the tenant ---------------------------------------------------------------------

    def schedule_report(self, working: ResourceSet | None, now: datetime | None = None) -> JsonObject:
        """The tenant's schedules (``config/schedule/*``) and scheduler jobs, enabled or not, next fires
        in words; which idmctl applied; a warning for a full recon whose policies delete (never guarded)."""
        now = now or datetime.now(UTC)
        owned = self.backend.platform_objects()
        names = self._native_names()
        state = self.backend.read_applied()
        applied = ResourceSet.from_canonical(state.resources, root=self.root) if state.resources else None
        warnings: list[str] = []
        try:
            jobs = {str(j.get("_id")): j for j in self.tenant.list_jobs()}
        except PlatformError as exc:
            jobs = {}
            warnings.append(f"the tenant's scheduler/job list could not be read ({exc.message}); next fire times "
                            "are computed from the cron")
        rows = []
        for body in self.tenant.query_config("schedule/"):
            native = str(body.get("_id", "")).removeprefix("schedule/")
            rows.append(schedule_row(body, native, jobs.pop(native, None), names, applied, now,
                                     managed=f"schedule/{native}" in owned))
        for native, job in sorted(jobs.items()):
            rows.append(schedule_row(job, native, job, names, applied, now, managed=False, dynamic=True))
        pending = sorted(set(working.schedules if working else ()) - set(applied.schedules if applied else ()))
        if pending:
            warnings.append(f"not applied yet (plan and apply to schedule them): {', '.join(pending)}")
        return {"environment": self.env, "platform": "aic", "tenant": self.tenant.tenant_url,
                "schedules": sorted(rows, key=lambda r: str(r["name"])), "warnings": warnings}

    def preview_schedule(self, working: ResourceSet | None, name: str, count: int,
                         after: datetime | None) -> JsonObject:
        state = self.backend.read_applied()
        applied = ResourceSet.from_canonical(state.resources, root=self.root) if state.resources else None
        return schedule_preview(self.env, name, applied.schedules if applied else {},
                                working.schedules if working else {}, None, count, after)

    def _tenant_fires(self, what: str) -> NoReturn:
        raise UsageError(f"{what}: the schedules of an aic environment run on the tenant, which fires them itself",
                         hint=f"See them with `idmctl schedule list --env {self.env}`; to stop one, set "
                         "`enabled: false` in its Schedule and apply")

    def serve_schedules(self, *, once: bool = False, log: RunLogger | None = None,
                        handle_signals: bool = True, progress: ProgressFactory | None = None) -> list[JsonObject]:
        self._tenant_fires("schedule run")

    def pause_schedule(self, name: str, reason: str) -> JsonObject:
        self._tenant_fires("schedule pause")

    def resume_schedule(self, name: str) -> JsonObject:
        self._tenant_fires("schedule resume")

    def close(self) -> None:
        if self._tenant is not None:
            self._tenant.close()
            self._tenant = None
