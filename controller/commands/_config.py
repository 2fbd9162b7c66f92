"""The config half's commands: init, validate, plan, apply, force-unlock, promote, effective resources.

Each reads the files through ``controller.config``, the state through a ``StateBackend`` and the
platform through a ``Platform``, and hands the pure planning to ``controller.plan``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from controller.backends import (
    AppliedState,
    AuditEntry,
    JsonObject,
    LockLease,
    PlatformObject,
    StateBackend,
    open_backend,
)
from controller.config import (
    LoadedEnvironment,
    ResourceSet,
    ValidationReport,
    canonical_hash,
    environment_dir,
    load_environment,
    validate_environment,
)
from controller.config.models import NAME_PATTERN
from controller.diagnostics import Diagnostic
from controller.errors import ConfigError, PlatformError, StalePlanError, StateNotInitialized, UsageError
from controller.plan import (
    Plan,
    PromoteResult,
    SavedPlan,
    compute_plan,
    plan_hash,
    read_plan_file,
    summary_line,
    write_plan_file,
)
from controller.plan import promote as copy_files
from controller.platforms import ApplyOptions, ApplyReport, Platform, TenantFactory, open_platform

__all__ = [
    "ApplyResult",
    "InitResult",
    "NewEnvironment",
    "PlanResult",
    "StateReport",
    "apply",
    "audit_list",
    "env_new",
    "force_unlock",
    "git_commit",
    "init",
    "plan",
    "promote",
    "state_show",
    "validate",
]


@dataclass(frozen=True)
class InitResult:
    environment: str
    location: str
    created: bool  # False: the state already existed and nothing changed
    serial: int
    lineage: str


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    diagnostics: tuple[Diagnostic, ...]  # warnings from loading the files


@dataclass(frozen=True)
class ApplyResult:
    plan: Plan
    applied: bool  # False: no changes, or the person declined
    state: AppliedState  # the state after the command
    plan_hash: str | None
    diagnostics: tuple[Diagnostic, ...]
    platform: ApplyReport = ApplyReport()  # what was written on the platform (an AIC tenant)


def git_commit(root: Path) -> str | None:
    """HEAD of the repository holding ``root`` ("<sha>+dirty" with uncommitted edits), else None."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10, check=False)
        if head.returncode != 0:
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--", "environments"], cwd=root,
                                capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = head.stdout.strip()
    return f"{sha}+dirty" if status.returncode == 0 and status.stdout.strip() else sha


def _backend(root: Path, loaded: LoadedEnvironment, *, must_exist: bool = True) -> StateBackend:
    return open_backend(root, loaded.resources.environment, must_exist=must_exist)


def init(root: Path, env: str) -> InitResult:
    """Create the environment's state (idempotent: an existing state is left as it is)."""
    loaded = load_environment(root, env)
    backend = _backend(root, loaded, must_exist=False)
    try:
        created = backend.init()
        state = backend.read_applied()
        return InitResult(env, backend.location, created, state.serial, state.lineage)
    finally:
        backend.close()


def _desired(loaded: LoadedEnvironment, backend: StateBackend) -> tuple[dict[str, JsonObject], str]:
    desired = loaded.resources.canonical(backend.fingerprint_key)
    return desired, canonical_hash(desired)


def _refuse_empty(plan: Plan, desired: dict[str, JsonObject], env: str) -> None:
    """Argo CD's allowEmpty=false: planning every resource away is almost always a mistake."""
    if any(doc.get("kind") != "Environment" for doc in desired.values()):
        return
    doomed = [c.address for c in plan.changes if c.after is None]
    if doomed:
        raise UsageError(
            f"environment {env!r} has no resources besides its Environment, so this plan would destroy "
            f"all {len(doomed)} applied resources ({', '.join(doomed[:4])}{', ...' if len(doomed) > 4 else ''})",
            hint="If that is really intended, pass --allow-empty")


def _plan_against(loaded: LoadedEnvironment, backend: StateBackend, state: AppliedState, allow_empty: bool,
                  platform: Platform) -> Plan:
    """The resource plan (files vs state) and, on a platform with its own copy (a tenant), its live part."""
    desired, digest = _desired(loaded, backend)
    plan = compute_plan(desired, state.resources, applied_serial=state.serial, applied_lineage=state.lineage,
                        desired_hash=digest, environment=loaded.name)
    if not allow_empty:
        _refuse_empty(plan, desired, loaded.name)
    live = platform.plan_live(loaded.resources, backend.fingerprint_key)
    if live is not None:
        plan = dataclasses.replace(plan, platform=live.platform, native=live.native, drift=live.drift,
                                   live_hash=live.live_hash, pending_restart=live.pending_restart)
    return plan


def plan(root: Path, env: str, *, allow_empty: bool = False, out: Path | None = None,
         tenant_factory: TenantFactory | None = None) -> PlanResult:
    """Desired (the files) vs applied (the state) for ``env``, and on aic vs the live tenant; reads only,
    takes no lock.

    With ``out``, the plan is saved there, signed with the state's key, for ``apply`` to apply exactly.
    """
    loaded = load_environment(root, env)
    backend = _backend(root, loaded)
    try:
        platform = open_platform(root, loaded.resources.environment, backend, loaded.resources,
                                 tenant_factory=tenant_factory)
        try:
            result = _plan_against(loaded, backend, backend.read_applied(), allow_empty, platform)
        finally:
            platform.close()
        if out is not None:
            write_plan_file(out, result, backend.fingerprint_key)
    finally:
        backend.close()
    return PlanResult(result, tuple(loaded.diagnostics))


def _same_changes(a: Plan, b: Plan) -> bool:
    def key(p: Plan) -> list[tuple[str, str, object]]:
        return ([(c.address, c.action.name, c.after) for c in p.changes]
                + [(c.id, c.action.name, c.after) for c in p.native])
    return key(a) == key(b)


def _check_saved(saved: SavedPlan, env: str, state: AppliedState, fresh: Plan, state_key: bytes) -> Plan:
    """The saved plan, when it is authentic and still what the files produce against this state."""
    plan, source = saved.plan, saved.path
    if plan.environment != env:
        raise UsageError(f"{source} is a plan for environment {plan.environment!r}, not {env!r}",
                         hint=f"Run `idmctl apply --env {plan.environment} {source}`")
    again = f"Run `idmctl plan --env {env} --out {source}` again and review it"
    if plan.applied_lineage != state.lineage:
        raise StalePlanError(
            f"saved plan {source} is stale: it was made for state lineage {plan.applied_lineage}, but the "
            f"state of {env!r} has lineage {state.lineage} (it was re-created since)", hint=again)
    saved.verify(state_key)  # an edited plan is refused as tampered before anything else is compared
    if plan.applied_serial != state.serial:
        raise StalePlanError(
            f"saved plan {source} is stale: it was made at state serial {plan.applied_serial}, but {env!r} "
            f"is now at serial {state.serial} (applied {state.applied_at} since)", hint=again)
    if plan.desired_hash != fresh.desired_hash:
        raise StalePlanError(
            f"saved plan {source} is stale: the files of environments/{env} (or the secrets they reference) "
            f"changed since it was made (desired state {fresh.desired_hash[:19]}..., plan made from "
            f"{plan.desired_hash[:19]}...)", hint=again)
    if plan.platform != fresh.platform:
        raise StalePlanError(f"saved plan {source} was made for the {plan.platform} platform, but {env!r} is now on "
                             f"{fresh.platform}; nothing was applied", hint=again)
    if fresh.live_hash is not None and plan.live_hash != fresh.live_hash:
        raise StalePlanError(
            f"saved plan {source} is stale: the objects on the tenant changed since it was made (live "
            f"{fresh.live_hash[:19]}..., plan made from {str(plan.live_hash)[:19]}...); nothing was applied",
            hint=f"Run `idmctl plan --env {env} --out {source}` again: it shows what changed on the tenant as drift")
    if not _same_changes(plan, fresh):
        raise StalePlanError(
            f"saved plan {source} does not show what the files of environments/{env} produce now; nothing was "
            "applied", hint=again)
    return plan


def apply(
    root: Path,
    env: str,
    *,
    plan_file: Path | None = None,
    approve: Callable[[Plan], bool],
    lock_timeout: float = 0.0,
    holder: str = "idmctl apply",
    on_wait: Callable[[LockLease], None] | None = None,
    allow_empty: bool = False,
    restart: bool = True,
    progress: Callable[[str], None] | None = None,
    tenant_factory: TenantFactory | None = None,
) -> ApplyResult:
    """Apply a saved plan exactly (refusing a stale one), or plan and ask ``approve``; all or nothing.

    The environment lock is held from reading the state to writing it, so the plan that is approved
    is the plan that is written. A saved plan is not asked about: it was reviewed when it was made.
    The platform receives the configuration first; the state records it only when that succeeded. On
    aic the plan is made against the live tenant under the lock, ``restart`` False defers an ESV restart
    (``--no-restart``) and ``progress`` hears about the restart's wait.
    """
    saved = read_plan_file(plan_file) if plan_file is not None else None
    # What is written is always what the files produce now: a saved plan only has to show exactly that.
    loaded = load_environment(root, env)
    backend = _backend(root, loaded)
    diagnostics = tuple(loaded.diagnostics)
    try:
        platform = open_platform(root, loaded.resources.environment, backend, loaded.resources,
                                 tenant_factory=tenant_factory)
        with platform_closed(platform), backend.lock(holder, lock_timeout, on_wait=on_wait) as lease:
            state = backend.read_applied()
            # --allow-empty was decided when a saved plan was made; it is checked again only when planning here
            chosen = _plan_against(loaded, backend, state, allow_empty or saved is not None, platform)
            if saved is not None:
                _check_saved(saved, env, state, chosen, backend.fingerprint_key)
            if not chosen.has_changes:
                return ApplyResult(chosen, False, state, None, diagnostics)
            if saved is None and not approve(chosen):
                return ApplyResult(chosen, False, state, None, diagnostics)
            changes = [c for c in chosen.changes if c.after != c.before]
            report = platform.apply(chosen, loaded.resources, lease, ApplyOptions(restart=restart, progress=progress))
            digest = plan_hash(chosen)
            new_state = backend.write_applied(
                {c.address: c.after for c in changes},
                expected_serial=chosen.applied_serial,
                expected_lineage=chosen.applied_lineage or state.lineage,
                lease=lease,
                summary=summary_line(chosen),
                plan_hash=digest,
                git_commit=git_commit(root),
                details={"changes": [{"address": c.address, "action": c.action.name.lower()} for c in changes],
                         "savedPlan": str(saved.path) if saved is not None else None,
                         **({"tenant": report.to_dict()} if chosen.platform != "embedded" else {})},
            )
            return ApplyResult(chosen, True, new_state, digest, diagnostics, report)
    finally:
        backend.close()


@contextlib.contextmanager
def platform_closed(platform: Platform) -> Iterator[Platform]:
    """``platform`` for a ``with`` block, closed after it (its tenant connection, if any)."""
    try:
        yield platform
    finally:
        platform.close()


def force_unlock(root: Path, env: str, lock_id: str, *, force: bool = False) -> LockLease:
    """Remove the environment lock ``lock_id`` (left by a dead process); audited. A holder still running
    on this host is refused unless ``force`` (then its next write is refused instead: fencing)."""
    loaded = load_environment(root, env)
    backend = _backend(root, loaded)
    try:
        return backend.force_unlock(lock_id, force=force)
    finally:
        backend.close()


def validate(root: Path, env: str) -> ValidationReport:
    """`validate`: every check of the files, then what only the environment's state can tell.

    With a state, it warns about application owners that are no managed identity and schedules whose
    mapping is not applied (the scheduler runs applied configuration only). Without one, the files alone.
    On the aic platform validate stays offline: the owners are checked by `plan` (against the tenant),
    and an info note says so.
    """
    report = validate_environment(root, env)
    if report.resources is None:
        return report
    environment = report.resources.environment
    try:
        backend = open_backend(root, environment, must_exist=True)
    except StateNotInitialized:
        return report
    try:
        platform = open_platform(root, environment, backend, report.resources)
        state = backend.read_applied()
        applied = set(ResourceSet.from_canonical(state.resources, root=root).mappings) if state.resources else set()
        for app in report.resources.applications.values():
            if platform.type != "embedded":
                report.diagnostics.append(Diagnostic(
                    "info", f"owners of application {app.metadata.name!r} are not checked offline on the "
                    f"{platform.type} platform", f"`idmctl plan --env {env}` looks them up on the tenant",
                    report.position(f"Application.{app.metadata.name}", "/spec/owners"), "/spec/owners"))
                continue
            missing = set(platform.missing_identities(app.spec.owners))
            for i, owner in enumerate(app.spec.owners):
                if owner in missing:
                    report.diagnostics.append(Diagnostic(
                        "warning", f"owner {owner!r} of application {app.metadata.name!r} is no managed identity "
                        f"in environment {env!r}", "Use the userName of an existing identity (idmctl identities "
                        "search), or reconcile first", report.position(f"Application.{app.metadata.name}",
                                                                      f"/spec/owners/{i}"), f"/spec/owners/{i}"))
        for schedule in report.resources.schedules.values():
            if schedule.spec.mapping not in applied:
                report.diagnostics.append(Diagnostic(
                    "warning", f"schedule {schedule.metadata.name!r} runs mapping {schedule.spec.mapping!r}, which "
                    f"is not applied in {env!r}", f"The scheduler runs applied configuration only: idmctl plan "
                    f"--env {env} and apply", report.position(f"Schedule.{schedule.metadata.name}", "/spec/mapping"),
                    "/spec/mapping"))
    finally:
        backend.close()
    return report


def promote(root: Path, source: str, target: str, *, check: bool = False) -> PromoteResult:
    """Copy ``source``'s resource files to ``target`` (or, with ``check``, only compare them), then plan it.

    Raises ``ConfigError`` listing every variable and secret the target lacks, before copying anything.
    """
    result = copy_files(root, source, target, check=check)
    if check:
        return result
    backend = open_backend(root, load_environment(root, target).resources.environment, must_exist=False)
    try:
        exists = backend.exists()
    finally:
        backend.close()
    if not exists:
        return dataclasses.replace(result, plan_note=(
            f"environment {target!r} has no state yet: run `idmctl init --env {target}`, "
            f"then `idmctl plan --env {target}`"))
    try:
        return dataclasses.replace(result, plan=plan(root, target).plan)
    except (ConfigError, PlatformError) as exc:  # its tenant is not reachable from here: the files are copied
        return dataclasses.replace(result, plan_note=(
            f"the files are copied, but the plan of {target!r} needs its tenant: {exc}. Run `idmctl plan --env "
            f"{target}` where its service account's key is available"))


@dataclass(frozen=True)
class StateReport:
    """`state show`: what the environment's state holds, as `terraform show` does for Terraform."""

    environment: str
    location: str
    backend: str
    platform: str
    serial: int
    lineage: str
    applied_at: str | None
    resources: dict[str, JsonObject]
    lock: LockLease | None
    last_apply: AuditEntry | None
    platform_objects: tuple[PlatformObject, ...] = ()  # what idmctl wrote to the tenant (aic)

    def to_dict(self) -> JsonObject:
        return {"environment": self.environment, "location": self.location, "backend": self.backend,
                "platform": self.platform, "serial": self.serial, "lineage": self.lineage,
                "appliedAt": self.applied_at, "resources": self.resources,
                "lock": self.lock.to_dict() if self.lock else None,
                "lastApply": self.last_apply.to_dict() if self.last_apply else None,
                "platformObjects": [o.to_dict() for o in self.platform_objects]}


def state_show(root: Path, env: str) -> StateReport:
    """The applied resources (secrets as fingerprints), serial, lineage, the lock and the last apply."""
    loaded = load_environment(root, env)
    backend = _backend(root, loaded)
    try:
        state = backend.read_applied()
        last = next((e for e in backend.audit_log() if e.action == "apply"), None)
        spec = loaded.resources.environment.spec
        return StateReport(env, backend.location, spec.state.backend, spec.platform.type, state.serial,
                           state.lineage, state.applied_at, state.resources, backend.current_lock(), last,
                           tuple(backend.platform_objects().values()))
    finally:
        backend.close()


def audit_list(root: Path, env: str, *, limit: int | None = 50) -> list[AuditEntry]:
    """The environment's audit log, newest first: applies, force-unlocks, --allow-deletes overrides."""
    loaded = load_environment(root, env)
    backend = _backend(root, loaded)
    try:
        return backend.audit_log(limit)
    finally:
        backend.close()


@dataclass(frozen=True)
class NewEnvironment:
    """`env new`: the folder made, and what a person must fill in before the first plan."""

    name: str
    source: str
    path: Path
    files: tuple[str, ...]
    variables: dict[str, object]  # copied from the source: check every one
    secrets: dict[str, str]  # name -> where the source environment reads it from


def env_new(root: Path, name: str, source: str) -> NewEnvironment:
    """Make environments/<name> from environments/<source>: the same resource files, and an
    environment.yaml with the new name and its own state; list the variables and secrets to fill in."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise UsageError(f"{name!r} is not a valid environment name",
                         hint="Use lower-case letters, digits and '-', at most 63 characters")
    src = environment_dir(root, source)
    dst = root / "environments" / name
    if dst.exists():
        raise UsageError(f"environments/{name} already exists", hint=f"Choose another name, or `idmctl promote "
                         f"--from {source} --to {name}` to make its resource files {source}'s")
    loaded = load_environment(root, source)  # a broken source is reported before anything is copied
    env_file = src / "environment.yaml"
    if not env_file.is_file():
        raise UsageError(f"environments/{source} keeps its Environment resource elsewhere than environment.yaml",
                         hint="Copy the folder by hand and edit metadata.name and spec.state")
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    document = yaml.load(env_file.read_text(encoding="utf-8"))
    document["metadata"]["name"] = name
    spec = document.setdefault("spec", {})
    if isinstance(spec.get("state"), dict) and spec["state"].get("backend", "sqlite") == "sqlite":
        spec["state"]["path"] = f".idmctl/{name}.db"  # never share the source's state file
    tmp = root / "environments" / f".{name}.new"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    (tmp / "environment.yaml").write_text(buffer.getvalue(), encoding="utf-8")
    tmp.rename(dst)  # all or nothing: the folder appears complete
    env_spec = loaded.resources.environment.spec
    secrets = {key: (f"environment variable {s.fromEnv}" if s.fromEnv else f"file {s.fromFile}")
               for key, s in env_spec.secrets.items()}
    files = tuple(sorted(str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file()))
    return NewEnvironment(name, source, dst, files, dict(env_spec.variables), secrets)
