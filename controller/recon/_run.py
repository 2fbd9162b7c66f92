"""A run's outcome: state, counts per situation and action, failures, the dry-run plan, and its JSON form."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from controller.config.models import RunMode, RunState
from controller.errors import ExitCode

__all__ = ["PlanItem", "ReconRun"]


@dataclass(slots=True)
class PlanItem:
    """One line of a dry run's plan: what would happen to one object, and why."""

    op: str  # "+", "~", "-", "!" (failure), "?" (exception/report)
    action: str
    situation: str | None
    source_id: str | None
    target_id: str | None
    label: str  # userName or id
    changes: dict[str, list[Any]] | None = None
    message: str | None = None
    blocked: bool = False  # a DELETE/UNLINK the safety guard would stop (dry run of a BLOCKED run)

    def text(self) -> str:
        verb = self.action.lower()
        if self.op == "~" and self.changes:
            diffs = ", ".join(f"{k}: {_short(v[0])} -> {_short(v[1])}" for k, v in self.changes.items())
            return f"~ {verb} {self.label} {diffs}"
        tail = f" ({self.message})" if self.message else ""
        why = f" [{self.situation}]" if self.situation else ""
        stop = " [blocked by the safety guard]" if self.blocked else ""
        return f"{self.op} {verb} {self.label}{why}{tail}{stop}"

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "action": self.action, "situation": self.situation, "sourceId": self.source_id,
                "targetId": self.target_id, "label": self.label, "changes": self.changes,
                "message": self.message, "blocked": self.blocked, "text": self.text()}


def _short(value: Any) -> str:
    return "(none)" if value is None else str(value)


@dataclass
class ReconRun:
    """What one run did (or, for a dry run, would do)."""

    id: str
    mapping: str
    mode: RunMode
    state: RunState = RunState.ACTIVE
    started: str = ""
    ended: str | None = None
    duration_ms: int | None = None
    dry_run: bool = False
    situations: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    processed: int = 0
    failures: int = 0
    entries: int = 0
    out_of_scope: int = 0
    links_cleaned: int = 0
    deletes: int = 0  # DELETE and UNLINK actions the guard counted (LINK_ONLY excluded)
    linked: int = 0  # links of the mapping when the run started
    reason: str | None = None
    full_because: str | None = None
    requested_mode: RunMode | None = None
    warnings: list[str] = field(default_factory=list)
    plan: list[PlanItem] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        """0 success, 4 success with failed entries, 3 blocked, 1 failed or canceled."""
        if self.state == RunState.SUCCESS:
            return ExitCode.PARTIAL if self.failures else ExitCode.OK
        if self.state == RunState.BLOCKED:
            return ExitCode.BLOCKED
        return ExitCode.ERROR

    def counts(self) -> dict[str, Any]:
        """What the run record stores as ``counts``."""
        return {
            "situations": dict(sorted(self.situations.items())), "actions": dict(sorted(self.actions.items())),
            "outOfScope": self.out_of_scope, "linksCleaned": self.links_cleaned, "deletes": self.deletes,
            "linked": self.linked, "entries": self.entries, "durationMs": self.duration_ms,
        }

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON (``reconcile --json``; the stored record's ``counts`` has the same counts).

        ``situations`` counts every assessed situation and ``actions`` every action taken for one. The
        link clean-up's UNLINKs (links whose source and target are both gone) have no situation: they
        are counted in ``actions["UNLINK"]`` and in ``linksCleaned``, so ``actions`` adds up to
        ``situations`` plus ``linksCleaned``. ``outOfScope`` counts source objects left alone because
        ``sourceFilter`` excludes them; ``deletes`` is what the safety guard counted; ``plan`` (dry runs
        only) lists what would happen per object, with ``blocked`` set on the lines the guard stops.
        """
        out: dict[str, Any] = {
            "id": self.id, "mapping": self.mapping, "mode": str(self.mode), "state": str(self.state),
            "situations": dict(sorted(self.situations.items())), "actions": dict(sorted(self.actions.items())),
            "processed": self.processed, "failures": self.failures, "started": self.started,
            "ended": self.ended, "durationMs": self.duration_ms, "dryRun": self.dry_run,
            "entries": self.entries, "outOfScope": self.out_of_scope, "linksCleaned": self.links_cleaned,
            "deletes": self.deletes, "linked": self.linked, "reason": self.reason,
            "fullBecause": self.full_because, "warnings": list(self.warnings),
        }
        if self.dry_run:
            out["plan"] = [p.to_dict() for p in self.plan]
        return out
