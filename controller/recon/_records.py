"""The run record of one reconciliation: started, closed, its interrupted predecessors failed, and an
``--allow-deletes`` override audited — each written once, here, beside the engine rather than inside it.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.backends import Store
from controller.config.models import RunState
from controller.errors import IdmctlError, LockLost
from controller.recon._run import ReconRun

__all__ = ["OverrideAudit", "RunRecorder"]

OverrideAudit = Callable[[ReconRun, int], None]
"""Records that a person let ``run`` delete or unlink with ``--allow-deletes N`` (the audit log)."""


class RunRecorder:
    """Writes the run record of ``run`` to ``store``: ``start`` before the engine works, ``finish`` after."""

    def __init__(self, store: Store, *, holder: str | None = None,
                 audit_override: OverrideAudit | None = None) -> None:
        self.store = store
        self.holder = holder
        self.audit_override = audit_override

    def start(self, run: ReconRun) -> None:
        """Fail runs of the mapping that a dead process left ACTIVE, then record this one as ACTIVE.

        Called under the environment lock: then no other run of the environment can be active.
        """
        for stale in self.store.fail_interrupted_runs(run.mapping):
            run.warnings.append(f"run {stale} had been interrupted; it is now marked FAILED")
        self.store.start_run(run.id, run.mapping, run.mode, started=run.started,
                             full_because=run.full_because, holder=self.holder)

    def finish(self, run: ReconRun, *, delta_link: str | None, select_hash: str,
               allow_deletes: int | None) -> None:
        """Close the record; store the delta link with it only when the run succeeded (never ahead of the data).

        A writer that lost the lock commits nothing more: the run ends FAILED, and its record stays
        ACTIVE until the next holder marks it interrupted.
        """
        link = (run.mapping, delta_link, select_hash) if run.state == RunState.SUCCESS and delta_link else None
        try:
            self.store.finish_run(run.id, state=run.state, counts=run.counts(), processed=run.processed,
                                  failures=run.failures, ended=run.ended or run.started, reason=run.reason,
                                  mode=run.mode, full_because=run.full_because, delta=link)
        except LockLost as exc:
            run.state = RunState.FAILED
            run.reason = run.reason if run.reason and "was lost" in run.reason else str(exc)
            run.warnings.append("the run record could not be closed (the lock was lost); the next run marks it "
                                "interrupted")
            return
        if allow_deletes is not None and run.state == RunState.SUCCESS and self.audit_override is not None:
            try:
                self.audit_override(run, allow_deletes)
            except IdmctlError as exc:  # the run is done and recorded; say the audit failed, loudly
                run.warnings.append(f"the --allow-deletes override could not be audited: {exc}")
