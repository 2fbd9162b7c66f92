"""The three situation tables of IDM, as pure functions (``reference/idm-reconciliation.md`` section 1).

Source phase (1a, ``SourceSyncOperation``), deleted source (1b, delete notifications: Graph delta
``@removed``) and target phase (1c, ``TargetSyncOperation``). ``hits`` is None when no correlation is
configured, else the candidate target ids.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.config.models import Situation

__all__ = ["deleted_source_situation", "source_situation", "target_situation"]


def source_situation(*, valid: bool, linked: bool, target_exists: bool,
                     hits: Sequence[str] | None, hit_linked: bool = False) -> Situation:
    """Table 1a. ``linked``: the source has a link; ``hit_linked``: the one hit is linked to another source."""
    if linked:
        if not valid:
            return Situation.UNQUALIFIED
        return Situation.CONFIRMED if target_exists else Situation.MISSING
    n = 0 if hits is None else len(hits)
    if not valid:
        return Situation.SOURCE_IGNORED if n == 0 else Situation.UNQUALIFIED
    if n == 0:
        return Situation.ABSENT
    if n == 1:
        return Situation.FOUND_ALREADY_LINKED if hit_linked else Situation.FOUND
    return Situation.AMBIGUOUS


def deleted_source_situation(*, linked: bool, target_exists: bool, target_valid: bool = True,
                             old_source_valid: bool | None = None,
                             hits: Sequence[str] | None = None) -> Situation:
    """Table 1b. ``old_source_valid`` is None when the last known source values are unknown."""
    if linked:
        if not target_exists:
            return Situation.LINK_ONLY
        return Situation.SOURCE_MISSING if target_valid else Situation.TARGET_IGNORED
    if old_source_valid is None or not hits:
        return Situation.ALL_GONE
    if len(hits) == 1:
        return Situation.UNASSIGNED if old_source_valid else Situation.TARGET_IGNORED
    return Situation.AMBIGUOUS if old_source_valid else Situation.UNQUALIFIED


def target_situation(*, target_valid: bool, linked: bool, source_exists: bool,
                     source_valid: bool = True) -> Situation:
    """Table 1c (targets the source phase did not handle)."""
    if not target_valid:
        return Situation.TARGET_IGNORED
    if not linked:
        return Situation.UNASSIGNED
    if not source_exists:
        return Situation.SOURCE_MISSING
    return Situation.CONFIRMED if source_valid else Situation.UNQUALIFIED
