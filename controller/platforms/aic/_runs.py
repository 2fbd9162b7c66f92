"""Runs on a tenant: what its recon summaries and association entries mean in idmctl's own terms.

Pure: a tenant's JSON in (``reference/aic-rest-api.md`` §5.1, §5.2), ``ReconRun``, ``RunRecord``,
``RunEntry`` and ``PlanItem`` out, so that a run on AIC is reported, recorded and exited exactly as
an embedded one. How a summary maps:

* ``state`` is the run's state (``ACTIVE``, ``SUCCESS``, ``FAILED``, ``CANCELED``);
* ``situationSummary`` gives ``situations`` (the situations that occurred: AIC lists every one, with 0s);
* ``actions`` are counted from the association entries when the run kept them (``persistAssociations``),
  else derived from the situations and the mapping's policy table (the summary has no action counts);
* ``statusSummary``: ``FAILURE`` is ``failures``, ``SUCCESS`` + ``FAILURE`` is ``entries``; ``processed``
  is the source and target phases' ``processed`` (falling back to ``entries``);
* ``deletes`` (what the safety guard counts) are the DELETE and UNLINK actions but LINK_ONLY's;
* ``progress.links.existing.total`` is ``linked``; ``SOURCE_IGNORED`` is ``outOfScope`` (``sourceCondition``);
* ``started``/``ended``/``duration``; ``stageDescription`` is the reason of a run that did not succeed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from controller.backends import JsonObject, RunEntry, RunRecord
from controller.config.models import RunMode, RunState, Situation
from controller.recon import DESTRUCTIVE, PlanItem, ReconRun, SituationPolicy

__all__ = ["TERMINAL", "count", "destructive", "entry_filter", "plan_item", "recon_record", "recon_run", "run_entry",
           "stage_path"]

TERMINAL = frozenset({"SUCCESS", "FAILED", "CANCELED"})
_STATES = {"ACTIVE": RunState.ACTIVE, "SUCCESS": RunState.SUCCESS, "FAILED": RunState.FAILED,
           "CANCELED": RunState.CANCELED}
_OPS = {"CREATE": "+", "UPDATE": "~", "LINK": "~", "DELETE": "-", "UNLINK": "-"}
_QUIET = frozenset({"NOREPORT", "IGNORE"})  # actions a dry run's plan does not list (nothing happens)


def count(value: Any) -> int | None:
    """A progress count: AIC sends totals as strings, ``"?"`` while unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _at(summary: Mapping[str, Any], *path: str) -> Any:
    node: Any = summary
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def stage_path(system: str, object_type: str) -> str:
    """Where the tenant keeps a liveSync's sync token: ``synchronisation/pooledSyncStage/SYSTEMENTRAUSER``."""
    return "synchronisation/pooledSyncStage/" + f"system/{system}/{object_type}".replace("/", "").upper()


def _situations(summary: Mapping[str, Any]) -> Counter[str]:
    raw = summary.get("situationSummary")
    return Counter({str(k): n for k, v in raw.items() if (n := count(v))} if isinstance(raw, Mapping) else {})


def _actions(situations: Mapping[str, int], entries: Iterable[Mapping[str, Any]] | None,
             policy: SituationPolicy | None) -> Counter[str]:
    if entries is not None:
        return Counter(str(e["action"]) for e in entries if e.get("action"))
    actions: Counter[str] = Counter()
    if policy is None:
        return actions
    for name, n in situations.items():
        if name in Situation.__members__:
            actions[str(policy.action(Situation(name)))] += n
    return actions


def _deletes(situations: Mapping[str, int], entries: list[Mapping[str, Any]] | None,
             policy: SituationPolicy | None) -> int:
    """The DELETE/UNLINK actions the guard counts: LINK_ONLY's UNLINK is not one (its object is gone
    already), as on embedded."""
    destroy = {str(a) for a in DESTRUCTIVE}
    if entries is not None:
        return sum(1 for e in entries if e.get("action") in destroy and e.get("situation") != "LINK_ONLY")
    return sum(n for name, n in _actions({k: v for k, v in situations.items() if k != "LINK_ONLY"}, None,
                                         policy).items() if name in destroy)


def recon_run(summary: Mapping[str, Any], mapping: str, *, mode: RunMode = RunMode.FULL, dry_run: bool = False,
              policy: SituationPolicy | None = None,
              entries: Iterable[Mapping[str, Any]] | None = None) -> ReconRun:
    """The ``ReconRun`` a tenant's recon summary says (``mapping``: idmctl's name of it)."""
    situations = _situations(summary)
    listed = None if entries is None else list(entries)
    actions = _actions(situations, listed, policy)
    raw_status = summary.get("statusSummary")
    status: Mapping[str, Any] = raw_status if isinstance(raw_status, Mapping) else {}
    failures = count(status.get("FAILURE")) or 0
    entry_count = (count(status.get("SUCCESS")) or 0) + failures
    processed = sum(count(_at(summary, "progress", phase, "existing", "processed")) or 0
                    for phase in ("source", "target")) or entry_count
    state = _STATES.get(str(summary.get("state", "")).upper(), RunState.FAILED)
    run = ReconRun(id=str(summary.get("_id", "")), mapping=mapping, mode=mode, state=state,
                   started=str(summary.get("started") or ""), ended=summary.get("ended") or None,
                   duration_ms=count(summary.get("duration")), dry_run=dry_run, situations=situations,
                   actions=actions, processed=processed, failures=failures, entries=entry_count,
                   out_of_scope=situations.get("SOURCE_IGNORED", 0),
                   deletes=_deletes(situations, listed, policy),
                   linked=count(_at(summary, "progress", "links", "existing", "total")) or 0,
                   requested_mode=mode)
    if state is not RunState.SUCCESS and state is not RunState.ACTIVE:
        run.reason = str(summary.get("stageDescription") or summary.get("stage") or f"the tenant's run {state}")
    return run


def recon_record(summary: Mapping[str, Any], mapping: str, policy: SituationPolicy | None = None) -> RunRecord:
    """A recon the tenant lists (idmctl did not record it) as a ``RunRecord``."""
    run = recon_run(summary, mapping, policy=policy)
    return RunRecord(run.id, mapping, RunMode.FULL, run.state, run.counts(), run.processed, run.failures,
                     run.started, run.ended, run.reason, None)


def _short_id(value: Any) -> str | None:
    """``system/Entra/User/<id>`` or ``managed/alpha_user/<id>`` -> ``<id>``; None when absent."""
    if not value:
        return None
    return str(value).rsplit("/", 1)[-1]


def run_entry(entry: Mapping[str, Any], seq: int) -> RunEntry:
    """One association entry (``recon/assoc/<id>/entry``) as a run entry."""
    ambiguous = entry.get("ambiguousTargetObjectIds")
    changes: JsonObject | None = None
    if isinstance(ambiguous, list) and ambiguous:
        changes = {"ambiguousTargetIds": [str(a) for a in ambiguous]}
    message = entry.get("message") or entry.get("messageDetail") or entry.get("exception")
    return RunEntry(seq, str(entry.get("phase") or "source"), _short_id(entry.get("sourceObjectId")),
                    _short_id(entry.get("targetObjectId")), entry.get("situation") or None,
                    str(entry.get("action") or "NOREPORT"), str(entry.get("status") or "SUCCESS"),
                    str(message) if message else None, changes)


def plan_item(entry: Mapping[str, Any], *, blocked: bool = False) -> PlanItem | None:
    """One line of a dry run's plan from an analysis's association entry; None when nothing would happen."""
    action = str(entry.get("action") or "NOREPORT")
    failed = str(entry.get("status") or "SUCCESS") == "FAILURE"
    if action in _QUIET and not failed:
        return None
    op = "!" if failed else _OPS.get(action, "?")
    source, target = _short_id(entry.get("sourceObjectId")), _short_id(entry.get("targetObjectId"))
    message = entry.get("message")
    return PlanItem(op, action, entry.get("situation") or None, source, target, source or target or "-",
                    message=str(message) if message else None,
                    blocked=blocked and action in {str(a) for a in DESTRUCTIVE})


def entry_filter(situation: str | None, action: str | None, status: str | None) -> str:
    """The ``_queryFilter`` of ``runs show``'s filters on association entries (``true`` for none)."""
    parts = [f'{name} eq "{value.upper()}"' for name, value in (("situation", situation), ("action", action),
                                                                 ("status", status)) if value]
    return " and ".join(parts) or "true"


def destructive(policy: SituationPolicy) -> bool:
    """Whether a mapping's policies can delete or unlink (then a full run is analysed first)."""
    return any(policy.action(s) in DESTRUCTIVE for s in Situation)
