"""Retry marks: what a FAILURE or ASYNC outcome leaves on the retry queue, and which marks an
incremental run re-reads by id.

- FAILURE marks are re-read at every incremental run while tried at most ``EVERY_RUN`` (3) times;
  from then on the gap doubles with each attempt: a mark tried ``n`` times waits until at least
  ``2 ** (n - EVERY_RUN)`` runs of the mapping (at most ``MAX_GAP``) have started since the run that
  last tried it. A permanently failing account (a conference room without a surname) then costs one read
  every ``MAX_GAP`` runs instead of one per run; a change to it in Entra ID still arrives by delta
  at once, and every full run assesses it again.
- ASYNC marks carry the situation and the digest of the action table they were decided under
  (``"ASYNC <SITUATION> <digest>"``). Re-reading one only helps when a person has changed the policy
  since and the situation no longer maps to ASYNC; otherwise the mark stays, unread, for the day the
  policy changes. A mark without that detail (written before this rule) is re-read once.
"""

from __future__ import annotations

from collections.abc import Iterable

from controller.backends import RetryMark
from controller.config.models import Action, Situation
from controller.recon._policy import SituationPolicy

__all__ = ["EVERY_RUN", "FAILURE", "MAX_GAP", "async_mark", "due"]

FAILURE = "FAILURE"
EVERY_RUN = 3
MAX_GAP = 32


def async_mark(situation: Situation, policy: SituationPolicy) -> str:
    """The reason stored for an ASYNC outcome."""
    return f"ASYNC {situation} {policy.digest}"


def due(marks: Iterable[RetryMark], policy: SituationPolicy) -> set[str]:
    """The source ids to re-read among ``(source id, reason, attempts, runs since it was last tried)``.

    ``runs since`` counts runs of the mapping started after the one that wrote the mark, before this
    one starts (so this run is the ``since + 1``-th); None when that run's record is gone (pruned),
    which makes the mark due.
    """
    out: set[str] = set()
    for sid, reason, attempts, since in marks:
        if reason == FAILURE:
            if attempts <= EVERY_RUN or since is None or since + 1 >= min(2 ** (attempts - EVERY_RUN), MAX_GAP):
                out.add(sid)
            continue
        parts = reason.split(" ")
        legacy = len(parts) != 3 or parts[0] != "ASYNC" or parts[1] not in Situation.__members__
        if legacy or (parts[2] != policy.digest and policy.action(Situation(parts[1])) is not Action.ASYNC):
            out.add(sid)
    return out
