"""The config half's commands as core functions: init, plan, apply and force-unlock of one environment.

Each reads the files through ``controller.config`` and the state through ``controller.targets`` and
hands the pure planning to ``compute_plan``; the CLI only parses, calls one of these, and renders.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from controller.config import (
    LoadedEnvironment,
    ResourceSet,
    ValidationReport,
    canonical_hash,
    load_environment,
    validate_environment,
)
from controller.diagnostics import Diagnostic
from controller.errors import ConfigError, StalePlanError, StateNotInitialized, UsageError
from controller.plan._compute import compute_plan
from controller.plan._model import Plan
from controller.plan._render_text import summary_line
from controller.plan.planfile import plan_hash, read_plan_file
from controller.targets import AppliedState, LockLease, Target, open_target

__all__ = [
    "ApplyResult",
    "InitResult",
    "PlanResult",
    "apply_environment",
    "check_environment",
    "effective_resources",
    "force_unlock_environment",
    "git_commit",
    "init_environment",
    "open_environment",
    "plan_environment",
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


def init_environment(root: Path, env: str) -> InitResult:
    """Create the environment's state (idempotent: an existing state is left as it is)."""
    loaded = load_environment(root, env)
    target = open_target(root, loaded, must_exist=False)
    try:
        created = target.init()
        state = target.read_applied()
        return InitResult(env, target.location, created, state.serial, state.lineage)
    finally:
        target.close()


def _desired(loaded: LoadedEnvironment, target: Target) -> tuple[dict[str, dict], str]:  # type: ignore[type-arg]
    desired = loaded.resources.canonical(target.fingerprint_key)
    return desired, canonical_hash(desired)


def _refuse_empty(plan: Plan, desired: dict[str, dict], env: str) -> None:  # type: ignore[type-arg]
    """Argo CD's allowEmpty=false: planning every resource away is almost always a mistake."""
    if any(doc.get("kind") != "Environment" for doc in desired.values()):
        return
    doomed = [c.address for c in plan.changes if c.after is None]
    if doomed:
        raise UsageError(
            f"environment {env!r} has no resources besides its Environment, so this plan would destroy "
            f"all {len(doomed)} applied resources ({', '.join(doomed[:4])}{', ...' if len(doomed) > 4 else ''})",
            hint="If that is really intended, pass --allow-empty")


def _plan_against(loaded: LoadedEnvironment, target: Target, state: AppliedState, allow_empty: bool) -> Plan:
    desired, digest = _desired(loaded, target)
    plan = compute_plan(desired, state.resources, applied_serial=state.serial, applied_lineage=state.lineage,
                        desired_hash=digest, environment=loaded.name)
    if not allow_empty:
        _refuse_empty(plan, desired, loaded.name)
    return plan


def plan_environment(root: Path, env: str, *, allow_empty: bool = False) -> PlanResult:
    """Desired (the files) vs applied (the state) for ``env``; reads only, takes no lock."""
    loaded = load_environment(root, env)
    target = open_target(root, loaded)
    try:
        plan = _plan_against(loaded, target, target.read_applied(), allow_empty)
    finally:
        target.close()
    return PlanResult(plan, tuple(loaded.diagnostics))


def _check_saved(plan: Plan, env: str, state: AppliedState, digest: str, source: Path) -> None:
    if plan.environment != env:
        raise UsageError(f"{source} is a plan for environment {plan.environment!r}, not {env!r}",
                         hint=f"Run `idmctl apply --env {plan.environment} {source}`")
    again = f"Run `idmctl plan --env {env} --out {source}` again and review it"
    if plan.applied_lineage != state.lineage:
        raise StalePlanError(
            f"saved plan {source} is stale: it was made for state lineage {plan.applied_lineage}, but the "
            f"state of {env!r} has lineage {state.lineage} (it was re-created since)", hint=again)
    if plan.applied_serial != state.serial:
        raise StalePlanError(
            f"saved plan {source} is stale: it was made at state serial {plan.applied_serial}, but {env!r} "
            f"is now at serial {state.serial} (applied {state.applied_at} since)", hint=again)
    if plan.desired_hash != digest:
        raise StalePlanError(
            f"saved plan {source} is stale: the files of environments/{env} (or the secrets they reference) "
            f"changed since it was made (desired state {digest[:19]}..., plan made from "
            f"{plan.desired_hash[:19]}...)", hint=again)


def apply_environment(
    root: Path,
    env: str,
    *,
    plan_file: Path | None = None,
    approve: Callable[[Plan], bool],
    lock_timeout: float = 0.0,
    holder: str = "idmctl apply",
    on_wait: Callable[[LockLease], None] | None = None,
    allow_empty: bool = False,
) -> ApplyResult:
    """Apply a saved plan exactly (refusing a stale one), or plan and ask ``approve``; all or nothing.

    The environment lock is held from reading the state to writing it, so the plan that is approved
    is the plan that is written. A saved plan is not asked about: it was reviewed when it was made.
    """
    saved = read_plan_file(plan_file) if plan_file is not None else None
    loaded = load_environment(root, env)
    target = open_target(root, loaded)
    diagnostics = tuple(loaded.diagnostics)
    try:
        with target.lock(holder, lock_timeout, on_wait=on_wait) as lease:
            state = target.read_applied()
            if saved is not None:
                assert plan_file is not None
                _check_saved(saved, env, state, _desired(loaded, target)[1], plan_file)
                plan = saved
            else:
                plan = _plan_against(loaded, target, state, allow_empty)
            if not plan.has_changes:
                return ApplyResult(plan, False, state, None, diagnostics)
            if saved is None and not approve(plan):
                return ApplyResult(plan, False, state, None, diagnostics)
            digest = plan_hash(plan)
            new_state = target.write_applied(
                {c.address: c.after for c in plan.changes if c.after != c.before},
                expected_serial=plan.applied_serial,
                expected_lineage=plan.applied_lineage or state.lineage,
                lease=lease,
                summary=summary_line(plan),
                plan_hash=digest,
                git_commit=git_commit(root),
            )
            return ApplyResult(plan, True, new_state, digest, diagnostics)
    finally:
        target.close()


def force_unlock_environment(root: Path, env: str, lock_id: str) -> LockLease:
    """Remove the environment lock ``lock_id`` (left by a dead process); audited."""
    loaded = load_environment(root, env)
    target = open_target(root, loaded)
    try:
        return target.force_unlock(lock_id)
    finally:
        target.close()


def effective_resources(root: Path, env: str) -> tuple[ResourceSet, str]:
    """The environment's applied configuration when it has one, else its files; and which (applied|files).

    Commands that only read a source (`connector test`, `preview`) work before the first apply too.
    """
    loaded = load_environment(root, env)
    try:
        target = open_target(root, loaded, must_exist=True)
    except StateNotInitialized:
        return loaded.resources, "files"
    try:
        applied = target.read_applied()
    finally:
        target.close()
    if not applied.resources:
        return loaded.resources, "files"
    return ResourceSet.from_canonical(applied.resources, root=root), "applied"


def check_environment(root: Path, env: str) -> ValidationReport:
    """`validate`: every check of the files, then what only the environment's state can tell.

    With a state, it warns about application owners that are no managed identity and schedules whose
    mapping is not applied (the scheduler runs applied configuration only). Without one, the files alone.
    """
    report = validate_environment(root, env)
    if report.resources is None:
        return report
    try:
        target = open_target(root, report.resources, must_exist=True)
    except StateNotInitialized:
        return report
    try:
        applied = {doc["name"] for doc in target.read_applied().resources.values() if doc["kind"] == "Mapping"}
        store = getattr(target, "identities", None)
        for app in report.resources.applications.values():
            taken = store.usernames_taken(app.spec.owners) if store is not None else {}
            for i, owner in enumerate(app.spec.owners):
                if owner.lower() not in taken:
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
        target.close()
    return report


def open_environment(root: Path, env: str) -> tuple[Target, ResourceSet | None, list[str]]:
    """``(target, working-tree resources or None, warnings)``; runs work from applied state even when
    the working tree does not load."""
    try:
        loaded = load_environment(root, env)
    except ConfigError as exc:
        if not (root / "environments" / env).is_dir():
            raise UsageError(f"no environment {env!r} under {root / 'environments'}",
                             hint="Pass --env with the name of a folder under environments/") from None
        target = open_target(root, {"name": env, "spec": {"target": {"type": "local"}}})
        return target, None, [f"the working tree of {env!r} does not load ({exc}); using applied state "
                              f"at {target.location}"]
    return open_target(root, loaded), loaded.resources, []
