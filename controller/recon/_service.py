"""``run_reconciliation``: one run of an applied mapping, under the environment lock, with its connector.

The embedded platform calls this. It reads the *applied* configuration (never the working tree),
compiles the mapping, opens the connector, takes the environment lock (a dry run does not: it writes
nothing), fences the store's writes with the lease, and hands over to the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from controller._startup import start_work
from controller.backends import AppliedState, LockLease, StateBackend, Store
from controller.config import ResourceSet, secret_fingerprint
from controller.config.models import ConnectorResource, RunMode, RunState
from controller.errors import ConfigError, ReconError
from controller.recon._engine import CancelCheck, Progress, Source, reconcile
from controller.recon._mapping import compile_mapping
from controller.recon._records import RunRecorder
from controller.recon._run import ReconRun

__all__ = ["ConnectorFactory", "applied_resources", "override_audit", "run_reconciliation"]

ConnectorFactory = Callable[[ConnectorResource, ResourceSet], Source]


def _default_factory(connector: ConnectorResource, resources: ResourceSet) -> Source:
    from controller.connectors import open_connector

    return open_connector(resources, connector.metadata.name, base_dir=resources.root)


def applied_resources(backend: StateBackend, root: Path, state: AppliedState | None = None) -> ResourceSet:
    """The environment's applied configuration; ``ReconError`` when nothing was applied yet."""
    state = state if state is not None else backend.read_applied()
    if not state.resources:
        raise ReconError(f"environment {backend.env!r} has no applied configuration",
                         hint=f"Run `idmctl plan --env {backend.env}` and `idmctl apply --env {backend.env}` first")
    return ResourceSet.from_canonical(state.resources, root=root)


def _secret_warnings(backend: StateBackend, state: AppliedState, applied: ResourceSet,
                     connector: ConnectorResource) -> list[str]:
    stored = state.resources.get(f"Connector.{connector.metadata.name}", {}).get("spec", {})
    applied_ref = stored.get("clientSecret")
    if not isinstance(applied_ref, dict) or not applied_ref.get("fingerprint"):
        return []
    name = str(applied_ref.get("secret"))
    try:
        value = applied.secret(name)
    except ConfigError:
        return []  # opening the connector reports the missing secret with its hint
    if secret_fingerprint(backend.fingerprint_key, value) != applied_ref["fingerprint"]:
        return [f"secret {name!r} no longer matches the fingerprint recorded at the last apply; the run uses "
                f"the current value (run `idmctl plan --env {backend.env}` to see the change, then apply)"]
    return []


def _working_tree_warnings(applied: ResourceSet, working: ResourceSet | None, mapping: str, connector: str,
                           env: str) -> list[str]:
    """What differs between the working tree and the applied configuration, every resource included.

    The resources this run reads (its mapping, its connector, the environment) get a line each, naming
    the fields that differ; the others one line together: the run uses none of the working tree."""
    if working is None:
        return []
    todo = f"this run uses the applied configuration (`idmctl plan --env {env}`, then apply, to change that)"
    used = {f"Mapping.{mapping}", f"Connector.{connector}", f"Environment.{applied.name}"}
    mine = {f"{r.kind}.{r.metadata.name}": r for r in applied}
    theirs = {f"{r.kind}.{r.metadata.name}": r for r in working}
    warnings: list[str] = []
    others: list[str] = []
    for address in sorted(set(mine) | set(theirs), key=lambda a: (a not in used, a)):
        old, new = mine.get(address), theirs.get(address)
        if old is not None and new is not None and old.spec == new.spec:
            continue
        if old is None or new is None:
            what = "added" if old is None else "removed"
        else:
            before, after = old.spec.model_dump(), new.spec.model_dump()
            fields = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            what = "changed: " + ", ".join(fields)
        if address in used:
            kind, _, name = address.partition(".")
            warnings.append(f"{kind.lower()} {name!r} in the working tree differs from the applied one ({what}); "
                            f"{todo}")
        else:
            others.append(f"{address} ({what})")
    if others:
        warnings.append(f"the working tree differs from the applied configuration in {', '.join(others)}; {todo}")
    return warnings


def run_reconciliation(
    backend: StateBackend,
    store: Store,
    root: Path,
    working: ResourceSet | None,
    mapping: str,
    *,
    mode: RunMode = RunMode.FULL,
    dry_run: bool = False,
    allow_deletes: int | None = None,
    reset_delta: bool = False,
    connector_factory: ConnectorFactory | None = None,
    progress: Progress | None = None,
    cancel: CancelCheck | None = None,
    holder: str | None = None,
    lock_timeout: float = 10.0,
    batch_size: int = 5000,
) -> ReconRun:
    """Reconcile the applied mapping ``mapping`` of ``backend``'s environment into ``store``.

    ``working`` is the environment as loaded from the working tree, or None; it is only used to warn
    when the working tree differs from what was applied. ``cancel`` is checked between batches.
    """
    state = backend.read_applied()
    applied = applied_resources(backend, root, state)
    if mapping not in applied.mappings:
        known = ", ".join(sorted(applied.mappings)) or "none"
        raise ReconError(f"mapping {mapping!r} is not applied in environment {backend.env!r} (applied: {known})",
                         hint=f"Add it to the environment's files, then `idmctl apply --env {backend.env}`")
    compiled = compile_mapping(mapping, applied.mappings[mapping].spec)
    connector = applied.connectors.get(compiled.connector)
    if connector is None:
        raise ReconError(f"mapping {mapping!r} reads connector {compiled.connector!r}, which is not applied",
                         hint=f"Declare the Connector and run `idmctl apply --env {backend.env}`")
    warnings = (_working_tree_warnings(applied, working, mapping, compiled.connector, backend.env)
                + _secret_warnings(backend, state, applied, connector))
    source = (connector_factory or _default_factory)(connector, applied)
    holder = holder or f"reconcile {mapping} ({mode})"
    start_work()  # the collector as before start-up: the engine's fewer_collections() sets its own from these
    try:
        if dry_run:
            return reconcile(store, source, compiled, mode=mode, dry_run=True, allow_deletes=allow_deletes,
                             reset_delta=reset_delta, cancel=cancel, progress=progress, holder=holder,
                             batch_size=batch_size, warnings=warnings)
        with backend.lock(holder, lock_timeout) as lease, store.fenced(lease):
            recorder = RunRecorder(store, holder=holder, audit_override=override_audit(backend, lease))
            return reconcile(store, source, compiled, mode=mode, dry_run=False, allow_deletes=allow_deletes,
                             reset_delta=reset_delta, cancel=cancel, progress=progress, holder=holder,
                             batch_size=batch_size, warnings=warnings, recorder=recorder)
    finally:
        close = getattr(source, "close", None)
        if callable(close):
            close()


def override_audit(backend: StateBackend, lease: LockLease) -> Callable[[ReconRun, int], None]:
    """The one record of an ``--allow-deletes N`` that let a run through: the environment's audit log."""

    def audit(run: ReconRun, allowed: int) -> None:
        assert run.state == RunState.SUCCESS
        backend.audit("allow-deletes", f"reconcile {run.mapping}: --allow-deletes {allowed} ({run.deletes} "
                      "deletes/unlinks)", lease=lease,
                      details={"run": run.id, "mapping": run.mapping, "allowed": allowed, "deletes": run.deletes})

    return audit
