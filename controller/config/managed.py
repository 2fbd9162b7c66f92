"""The built-in managed object types: which properties exist, which are required, and their rules.

One source of truth for `idmctl validate` (mapped target properties must exist), the reconciliation
engine (it checks an object before it batches the write) and every store (it enforces the same rules
on every write). Taken from the AIC `alpha_user` schema (reference/idm-reconciliation.md, section 10).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ALPHA_USER", "MANAGED_TYPES", "ManagedType", "duplicate_username", "index_key", "index_keys"]


def index_key(value: object) -> str | None:
    """The case-insensitive key of a property value, as correlation compares it (None: not indexable)."""
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def index_keys(value: object) -> list[str]:
    """The keys of a value, a multi-valued one giving one key per distinct element."""
    if isinstance(value, list):
        keys = (index_key(v) for v in value)
        return list(dict.fromkeys(k for k in keys if k is not None))
    key = index_key(value)
    return [] if key is None else [key]


def duplicate_username(name: str, holder: str) -> str:
    """The one way to say a userName is taken (the stores and the engine both check it)."""
    return f"userName {name!r} is already used by managed/alpha_user/{holder} (userName is unique regardless of case)"


@dataclass(frozen=True)
class ManagedType:
    name: str
    properties: frozenset[str]
    required: tuple[str, ...]
    unique_ci: str  # the property unique case-insensitively (the object's natural key)
    forbidden_chars: str
    max_length: int
    defaults: tuple[tuple[str, object], ...]

    def schema_error(self, props: Mapping[str, Any]) -> str | None:
        """Why ``props`` cannot be an object of this type (the first problem found), or None when it can."""
        for name in self.required:
            value = props.get(name)
            if not isinstance(value, str) or not value or value.isspace():  # blank (no copy, as strip() made)
                if value is None:
                    return f"required property {name!r} is missing ({self.name} needs {', '.join(self.required)})"
                return f"required property {name!r} must be a non-empty string, not {value!r}"
        natural_key: str = props[self.unique_ci]
        for char in self.forbidden_chars:
            if char in natural_key:
                return f"{self.unique_ci} {natural_key!r} contains {char!r}, which {self.name} does not allow"
        if len(natural_key) > self.max_length:
            return f"{self.unique_ci} is {len(natural_key)} characters long; {self.name} allows {self.max_length}"
        return None

    def all_valid(self, objects: Sequence[Mapping[str, Any]]) -> bool:
        """Whether ``schema_error`` finds nothing in any of ``objects``: the same rules, checked a property
        at a time over all of them (a page of creates), for the engine's bulk path."""
        for name in self.required:
            column = [o.get(name) for o in objects]
            if not all(isinstance(v, str) and v and not v.isspace() for v in column):
                return False
        keys: list[str] = [o[self.unique_ci] for o in objects]
        if any(char in key for key in keys for char in self.forbidden_chars):
            return False
        return not keys or max(map(len, keys)) <= self.max_length

    def with_defaults(self, props: dict[str, Any]) -> dict[str, Any]:
        """``props`` (changed in place) with the type's defaults where a value is missing or null."""
        for name, default in self.defaults:
            if props.get(name) is None:
                props[name] = default
        return props


_GENERIC = [
    f"fr{scope}{kind}{i}"
    for scope in ("Indexed", "Unindexed")
    for kind in ("String", "Multivalued", "Date", "Integer")
    for i in range(1, 6)
]

ALPHA_USER = ManagedType(
    name="alpha_user",
    properties=frozenset(
        [
            "userName", "givenName", "sn", "mail", "cn", "displayName", "description",
            "accountStatus", "telephoneNumber", "postalAddress", "address2", "city", "postalCode",
            "country", "stateProvince", "preferences", "profileImage", "aliasList",
            *_GENERIC,
        ]
    ),
    required=("userName", "givenName", "sn", "mail"),
    unique_ci="userName",
    forbidden_chars="/",
    max_length=255,
    defaults=(("accountStatus", "active"),),
)

MANAGED_TYPES: dict[str, ManagedType] = {"managed/alpha_user": ALPHA_USER}
