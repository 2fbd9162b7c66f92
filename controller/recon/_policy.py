"""Situation policies: which action each situation takes (IDM's engine defaults, read-only, overrides)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from controller.config.models import Action, PolicySpec, Situation

__all__ = ["DEFAULT_ACTIONS", "DESTRUCTIVE", "SituationPolicy"]

#: IDM's engine default when a mapping has no policy for a situation (``sync/impl/Situation.java``).
DEFAULT_ACTIONS: Mapping[Situation, Action] = {
    Situation.CONFIRMED: Action.UPDATE,
    Situation.FOUND: Action.UPDATE,
    Situation.FOUND_ALREADY_LINKED: Action.EXCEPTION,
    Situation.ABSENT: Action.CREATE,
    Situation.AMBIGUOUS: Action.EXCEPTION,
    Situation.MISSING: Action.EXCEPTION,
    Situation.UNQUALIFIED: Action.DELETE,
    Situation.SOURCE_IGNORED: Action.REPORT,
    Situation.TARGET_IGNORED: Action.REPORT,
    Situation.UNASSIGNED: Action.EXCEPTION,
    Situation.SOURCE_MISSING: Action.EXCEPTION,
    Situation.LINK_ONLY: Action.EXCEPTION,
    Situation.ALL_GONE: Action.NOREPORT,
}

#: Actions that remove a managed object or a link: held back until the safety guard has decided.
DESTRUCTIVE = frozenset({Action.DELETE, Action.UNLINK})


class SituationPolicy:
    """The action for every situation: a base table (``default`` or ``read-only``) plus per-situation rules."""

    __slots__ = ("base", "rules", "digest", "_table")

    def __init__(self, base: str = "default", rules: Mapping[str, str] | None = None) -> None:
        if base not in ("default", "read-only"):
            raise ValueError(f"policies.base must be 'default' or 'read-only', not {base!r}")
        self.base = base
        self.rules = {Situation(k): Action(v) for k, v in (rules or {}).items()}
        table = dict(DEFAULT_ACTIONS) if base == "default" else dict.fromkeys(Situation, Action.ASYNC)
        table.update(self.rules)
        self._table: dict[Situation, Action] = table
        #: A short fingerprint of the whole action table: stored with ASYNC retry marks.
        self.digest = hashlib.sha256(repr(sorted(self.table().items())).encode()).hexdigest()[:16]

    @classmethod
    def from_spec(cls, spec: PolicySpec | None) -> SituationPolicy:
        """From a mapping's ``policies`` (None = the engine defaults)."""
        if spec is None:
            return cls()
        return cls(spec.base, {str(k): str(v) for k, v in spec.rules.items()})

    def action(self, situation: Situation) -> Action:
        return self._table[situation]

    def table(self) -> dict[str, str]:
        """Every situation with its action, for reports."""
        return {str(s): str(a) for s, a in self._table.items()}

    def __repr__(self) -> str:
        return f"SituationPolicy(base={self.base!r}, rules={ {str(k): str(v) for k, v in self.rules.items()} })"
