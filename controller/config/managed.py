"""The built-in managed object types: which properties exist, which are required, their rules.

One source of truth for both `idmctl validate` (mapped target properties must exist) and the
identity store (it enforces required properties and userName rules on every write). Taken from the
AIC `alpha_user` schema (reference/idm-reconciliation.md, section 10).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ALPHA_USER", "MANAGED_TYPES", "ManagedType"]


@dataclass(frozen=True)
class ManagedType:
    name: str
    properties: frozenset[str]
    required: tuple[str, ...]
    unique_ci: str  # the property unique case-insensitively (the object's natural key)
    forbidden_chars: str
    max_length: int
    defaults: tuple[tuple[str, object], ...]


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
