"""The plan as plain, frozen data: what would change per resource, per attribute, and what to warn about.

No presentation here: renderers (text, JSON, Markdown) read these public fields; ``planfile`` serialises them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["AttributeDiff", "ChangeAction", "NativeChange", "Plan", "PlanChange", "PlanWarning"]


class ChangeAction(enum.Enum):
    """What happens to one resource; the value is Terraform's symbol for it."""

    CREATE = "+"
    UPDATE = "~"
    DELETE = "-"
    REPLACE = "-/+"
    NOOP = " "

    @property
    def symbol(self) -> str:
        return self.value

    @property
    def actions(self) -> tuple[str, ...]:
        """Terraform's JSON ``actions`` list for this change."""
        return _ACTIONS[self]


_ACTIONS = {
    ChangeAction.CREATE: ("create",),
    ChangeAction.UPDATE: ("update",),
    ChangeAction.DELETE: ("delete",),
    ChangeAction.REPLACE: ("delete", "create"),
    ChangeAction.NOOP: ("no-op",),
}


@dataclass(frozen=True)
class AttributeDiff:
    """One changed value inside a resource, at a JSON pointer such as ``/spec/properties/1/target``."""

    path: str  # JSON pointer into the canonical resource; a secret collapses to its reference's path
    change: str  # "added" | "removed" | "changed"
    before: Any  # the old value (None when added); for a secret, its canonical reference dict
    after: Any  # the new value (None when removed)
    sensitive: bool = False  # the value is a secret reference: renderers show "(sensitive)"
    checked: bool = True  # False: the secret is not available where the plan ran ("not checked")
    forces_replacement: bool = False  # the path forms the resource's identity (REPLACE)


@dataclass(frozen=True)
class PlanChange:
    """One resource's change. ``before``/``after`` are canonical resources (None when absent)."""

    address: str  # "Kind.name"
    kind: str
    name: str
    action: ChangeAction
    before: dict[str, Any] | None  # None exactly when action is CREATE
    after: dict[str, Any] | None  # None exactly when action is DELETE; what apply writes
    diffs: tuple[AttributeDiff, ...] = ()  # empty exactly when action is NOOP


@dataclass(frozen=True)
class NativeChange:
    """One object on the platform (an AIC tenant) that apply writes, or that changed there outside idmctl.

    ``before``/``after`` are normalised native bodies (server-managed fields removed); an ESV secret's
    value is a secret reference with a keyed fingerprint, never the value. In ``Plan.native`` ``before``
    is the live object and ``after`` what apply writes; in ``Plan.drift`` ``before`` is what idmctl last
    wrote and ``after`` the live object.
    """

    id: str  # native id: "mapping/systemEntraUser_managedAlpha_user", "esv-idmctl-entra-client-id"
    kind: str  # "variable" | "secret" | "connector" | "mapping" | "application" | "schedule"
    address: str  # the idmctl resource it comes from: "Mapping.entra-users"
    action: ChangeAction  # CREATE, UPDATE or DELETE
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    diffs: tuple[AttributeDiff, ...] = ()  # JSON pointers into the native body
    restart_required: bool = False  # an ESV: the tenant loads it only after a restart
    sensitive: bool = False  # the object holds a secret: renderers show its value as "(sensitive)"


@dataclass(frozen=True)
class PlanWarning:
    """A consequence a reviewer must see (a full run forced, links dropped, a schedule left dangling)."""

    address: str
    code: str  # stable: "full-run", "links-dropped", "links-carried", "schedule-orphaned", ...
    message: str
    severity: str = "warning"  # "warning" | "info"


@dataclass(frozen=True)
class Plan:
    """Desired vs applied state of one environment, and the snapshot it was computed against."""

    environment: str
    changes: tuple[PlanChange, ...]  # one per address in desired or applied, sorted by kind then name
    warnings: tuple[PlanWarning, ...]
    applied_serial: int  # the state serial the plan was computed against; apply refuses another
    applied_lineage: str | None  # the state lineage; None for plans not tied to a state (tests)
    desired_hash: str  # hash of the desired state from the files; apply refuses other files
    unchecked_secrets: tuple[str, ...] = ()  # secrets not available where the plan ran
    platform: str = "embedded"  # the platform type the plan was made for
    native: tuple[NativeChange, ...] = ()  # what apply writes on the platform, in apply order
    drift: tuple[NativeChange, ...] = ()  # live objects that differ from what idmctl last wrote
    live_hash: str | None = None  # digest of the live objects read; a saved plan is stale when it moved
    pending_restart: tuple[str, ...] = ()  # ESVs the tenant has not loaded yet: apply restarts it

    @property
    def has_changes(self) -> bool:
        return (any(c.action is not ChangeAction.NOOP for c in self.changes) or bool(self.native)
                or bool(self.pending_restart))

    @property
    def has_resource_changes(self) -> bool:
        return any(c.action is not ChangeAction.NOOP for c in self.changes)

    def count_native(self, action: ChangeAction) -> int:
        return sum(1 for c in self.native if c.action is action)

    @property
    def restart_required(self) -> bool:
        return any(c.restart_required for c in self.native) or bool(self.pending_restart)

    @property
    def secrets_checked(self) -> bool:
        return not self.unchecked_secrets

    def count(self, *actions: ChangeAction) -> int:
        return sum(1 for c in self.changes if c.action in actions)

    @property
    def to_add(self) -> int:
        return self.count(ChangeAction.CREATE, ChangeAction.REPLACE)

    @property
    def to_change(self) -> int:
        return self.count(ChangeAction.UPDATE)

    @property
    def to_destroy(self) -> int:
        return self.count(ChangeAction.DELETE, ChangeAction.REPLACE)
