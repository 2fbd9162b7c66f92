"""``run_reconciliation``: one run of an applied mapping, under the environment lock, with its connector.

This is the entry point the CLI and the scheduler call. It reads the *applied* configuration (never
the working tree), compiles the mapping, opens the connector, takes the environment lock (a dry run
does not: it writes nothing) and hands over to the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controller.config import ResourceSet, secret_fingerprint
from controller.errors import ConfigError, ReconError
from controller.recon._engine import Progress, Source, cancel_check, reconcile
from controller.recon._mapping import compile_mapping
from controller.recon._run import ReconRun, RunState
from controller.targets import AppliedState

__all__ = ["ConnectorFactory", "applied_resources", "run_reconciliation"]

ConnectorFactory = Callable[[Any, ResourceSet], Source]


def _default_factory(connector: Any, resources: ResourceSet) -> Source:
    from controller.connectors import open_connector

    return open_connector(resources, connector.metadata.name, base_dir=resources.root)


def applied_resources(target: Any, resources: ResourceSet | None = None,
                      state: AppliedState | None = None) -> ResourceSet:
    """The environment's applied configuration; ``ReconError`` when nothing was applied yet."""
    state = state if state is not None else target.read_applied()
    if not state.resources:
        raise ReconError(f"environment {target.env!r} has no applied configuration",
                         hint=f"Run `idmctl plan --env {target.env}` and `idmctl apply --env {target.env}` first")
    root = resources.root if resources is not None else None
    return ResourceSet.from_canonical(state.resources, root=root)


def _secret_warnings(target: Any, state: AppliedState, applied: ResourceSet, connector: Any) -> list[str]:
    stored = state.resources.get(f"Connector.{connector.metadata.name}", {}).get("spec", {})
    applied_ref = stored.get("clientSecret")
    if not isinstance(applied_ref, dict) or not applied_ref.get("fingerprint"):
        return []
    name = applied_ref.get("secret")
    try:
        value = applied.secret(name)
    except ConfigError:
        return []  # opening the connector reports the missing secret with its hint
    if secret_fingerprint(target.fingerprint_key, value) != applied_ref["fingerprint"]:
        return [f"secret {name!r} no longer matches the fingerprint recorded at the last apply; the run uses "
                f"the current value (run `idmctl plan --env {target.env}` to see the change, then apply)"]
    return []


def _working_tree_warnings(applied: ResourceSet, resources: ResourceSet | None, mapping: str) -> list[str]:
    if resources is None or mapping not in resources.mappings:
        return []
    if resources.mappings[mapping].spec != applied.mappings[mapping].spec:
        return [f"mapping {mapping!r} in the working tree differs from the applied one; this run uses the "
                "applied configuration (plan and apply to change that)"]
    return []


def run_reconciliation(
    target: Any,
    resources: ResourceSet | None,
    mapping: str,
    *,
    mode: str = "full",
    dry_run: bool = False,
    allow_deletes: int | None = None,
    reset_delta: bool = False,
    connector_factory: ConnectorFactory | None = None,
    progress: Progress | None = None,
    cancel: Any = None,
    holder: str | None = None,
    lock_timeout: float = 10.0,
    batch_size: int = 5000,
) -> ReconRun:
    """Reconcile the applied mapping ``mapping`` of ``target``'s environment; returns the run.

    ``resources`` is the environment as loaded from the working tree, or None; it is only used to warn
    when the working tree differs from what was applied, and for the repository root. ``cancel`` is a
    callable or an Event checked between batches; a lost lock cancels too.
    """
    state = target.read_applied()
    applied = applied_resources(target, resources, state)
    if mapping not in applied.mappings:
        known = ", ".join(sorted(applied.mappings)) or "none"
        raise ReconError(f"mapping {mapping!r} is not applied in environment {target.env!r} (applied: {known})",
                         hint=f"Add it to the environment's files, then `idmctl apply --env {target.env}`")
    compiled = compile_mapping(mapping, applied.mappings[mapping].spec)
    connector = applied.connectors.get(compiled.connector)
    if connector is None:
        raise ReconError(f"mapping {mapping!r} reads connector {compiled.connector!r}, which is not applied",
                         hint=f"Declare the Connector and run `idmctl apply --env {target.env}`")
    warnings = _working_tree_warnings(applied, resources, mapping) + _secret_warnings(target, state, applied, connector)
    source = (connector_factory or _default_factory)(connector, applied)
    holder = holder or f"reconcile {mapping} ({mode})"
    user_cancel = cancel_check(cancel)
    try:
        if dry_run:
            return reconcile(target.identities, source, compiled, mode=mode, dry_run=True,
                             allow_deletes=allow_deletes, reset_delta=reset_delta, cancel=user_cancel,
                             progress=progress, holder=holder, batch_size=batch_size, warnings=warnings)
        with target.lock(holder, lock_timeout) as lease:
            lost = getattr(lease, "lost", None)

            def stop() -> bool:
                return user_cancel() or bool(lost is not None and lost.is_set())

            run = reconcile(target.identities, source, compiled, mode=mode, dry_run=False,
                            allow_deletes=allow_deletes, reset_delta=reset_delta, cancel=stop,
                            progress=progress, holder=holder, batch_size=batch_size, warnings=warnings)
            if lost is not None and lost.is_set():
                run.warnings.append("the environment lock was lost during the run; it stopped at a batch boundary")
            if allow_deletes is not None and run.state == RunState.SUCCESS:
                # the environment's audit log, beside the apply entries (the engine notes it per mapping)
                target.audit("allow-deletes", f"reconcile {mapping}: --allow-deletes {allow_deletes} "
                             f"({run.deletes} deletes/unlinks)",
                             details={"run": run.id, "mapping": mapping, "allowed": allow_deletes,
                                      "deletes": run.deletes})
            return run
    finally:
        close = getattr(source, "close", None)
        if callable(close):
            close()

