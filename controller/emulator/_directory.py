"""A tenant's user store: loaded users, generated users, writes as overrides, and the change log.

Users live at positions: loaded users first, then the generated range (computed on demand from the
index), then users created later. A position never moves, so a ``$skiptoken`` that records "continue
after position p" stays valid while users are created or deleted around it. Every write appends to
the change log; its length is the sequence number a delta token records.

User data is held in memory only: a restart starts from the loaded and generated users again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from controller.emulator._generator import UserGenerator
from controller.emulator._properties import COLLECTION_PROPERTIES, READ_ONLY, canonical_name
from controller.errors import EmulatorHTTPError

__all__ = ["Change", "Directory", "normalize_user"]

# (position, kind, changed property names or None for "everything"); kind: upsert | soft | hard
Change = tuple[int, str, frozenset[str] | None]

_NOT_FOUND = "Resource '{key}' does not exist or one of its queried reference-property objects are not present."


def _stable_created(user_id: str) -> str:
    seconds = int(hashlib.sha256(user_id.encode()).hexdigest()[:8], 16) % (6 * 365 * 86400)
    created = dt.datetime(2018, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    return created.strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_user(raw: Mapping[str, Any], *, where: str = "user") -> dict[str, Any]:
    """A Graph-shaped user dict made storable: canonical names, nulls dropped, server-set fields filled."""
    user: dict[str, Any] = {}
    for key, value in raw.items():
        if key.startswith("@odata") or key == "passwordProfile":
            continue
        name = canonical_name(key)
        if name is None:
            raise EmulatorHTTPError(
                400, "Request_BadRequest",
                f"Property '{key}' does not exist as a declared property or extension property ({where}).",
            )
        if value is not None and not (name in COLLECTION_PROPERTIES and value == []):
            user[name] = list(value) if name in COLLECTION_PROPERTIES else value
    upn = user.get("userPrincipalName")
    if not isinstance(upn, str) or "@" not in upn:
        raise EmulatorHTTPError(
            400, "Request_BadRequest",
            f"Invalid value specified for property 'userPrincipalName' of resource 'User' ({where}).",
        )
    user.setdefault("id", str(uuid.uuid5(uuid.NAMESPACE_URL, "upn:" + upn.lower())))
    user["id"] = str(user["id"]).lower()
    user.setdefault("displayName", upn.split("@", 1)[0])
    user.setdefault("accountEnabled", True)
    user.setdefault("userType", "Guest" if "#EXT#" in upn.upper() else "Member")
    user.setdefault("mailNickname", upn.split("@", 1)[0])
    if not ("createdDateTime" in raw and raw["createdDateTime"] is None):
        # Users created before Entra ID recorded it have none: an explicit null keeps it so.
        user.setdefault("createdDateTime", _stable_created(user["id"]))
    return user


class Directory:
    """Users of one tenant, positions, lookups by id/UPN/mail, writes and the change log."""

    def __init__(self, users: Iterable[Mapping[str, Any]], *, generated: int = 0, domain: str,
                 seed: int = 0) -> None:
        self.lock = threading.RLock()
        self.domain = domain
        self._stored: dict[int, dict[str, Any]] = {}
        self._soft: dict[int, dict[str, Any]] = {}
        self._purged: dict[int, str] = {}
        self._ids: dict[str, int] = {}
        self._names: dict[str, int] = {}
        self._mails: dict[str, int] = {}
        self._log: list[Change] = []
        pos = 0
        for raw in users:
            user = normalize_user(raw)
            if user["id"] in self._ids or user["userPrincipalName"].lower() in self._names:
                continue  # a users file that repeats the sample data: first one wins
            self._put(pos, user)
            pos += 1
        self._gen_start = pos
        self._gen = UserGenerator(generated, domain, seed=seed) if generated else None
        self._gen_end = pos + generated
        self._next = self._gen_end
        # positions by the lowered first character of userPrincipalName, for the state (seq, next) they were built at
        self._buckets: tuple[tuple[int, int], dict[str, list[int]]] | None = None

    # -- reading -------------------------------------------------------------------------------
    @property
    def seq(self) -> int:
        """The sequence number of the latest change (0 before any)."""
        return len(self._log)

    @property
    def live_count(self) -> int:
        return self._next - len(self._soft) - len(self._purged)

    @property
    def end(self) -> int:
        """One past the highest position in use."""
        return self._next

    def get(self, pos: int) -> dict[str, Any] | None:
        """The live user at ``pos`` or None (deleted, or never used)."""
        if pos in self._soft or pos in self._purged:
            return None
        user = self._stored.get(pos)
        if user is None and self._gen is not None and self._gen_start <= pos < self._gen_end:
            return self._gen.user(pos - self._gen_start)
        return user

    def _gen_pos(self, index: int | None) -> int | None:
        return None if index is None else self._gen_start + index

    def position(self, key: str, *, include_deleted: bool = False) -> int | None:
        """The position of the user whose id or userPrincipalName is ``key`` (case-insensitive)."""
        low = key.lower()
        if "@" in low:
            return self._by_name(low, "userPrincipalName", self._names, include_deleted)
        pos = self._ids.get(low)
        if pos is None and self._gen is not None:
            pos = self._gen_pos(self._gen.index_of_id(low))
        if pos is None or pos in self._purged:
            return None
        if pos in self._soft:
            return pos if include_deleted else None
        return pos

    def _by_name(self, low: str, prop: str, index: dict[str, int], include_deleted: bool) -> int | None:
        candidates = [index.get(low)]
        if self._gen is not None:
            candidates.append(self._gen_pos(self._gen.index_of_name(low)))
        for pos in candidates:
            if pos is None:
                continue
            user = self.get(pos) or (self._soft.get(pos) if include_deleted else None)
            value = user.get(prop) if user else None
            if isinstance(value, str) and value.lower() == low:
                return pos
        return None

    def positions_for(self, keys: Mapping[str, set[str]]) -> list[int]:
        """Live positions matching ``{id|userPrincipalName|mail: {lowercase values}}`` (index lookup)."""
        found: set[int] = set()
        for prop, values in keys.items():
            for value in values:
                if prop == "mail":
                    pos = self._by_name(value, "mail", self._mails, False)
                elif prop == "userPrincipalName":
                    pos = self._by_name(value, "userPrincipalName", self._names, False)
                else:
                    pos = self.position(value) if "@" not in value else None
                if pos is not None:
                    found.add(pos)
        return sorted(found)

    def first_character_positions(self, chars: frozenset[str], negated: bool) -> list[int]:
        """Live positions whose userPrincipalName begins (lowered) with one of ``chars`` (with
        ``negated``: with none of them), from buckets built once per state of the directory: a
        partitioned read asks this once per page of each of its partitions."""
        key = (self.seq, self._next)
        if self._buckets is None or self._buckets[0] != key:
            buckets: dict[str, list[int]] = {}
            for pos in range(self._next):
                user = self.get(pos)
                if user is not None:
                    upn = user.get("userPrincipalName")
                    first = upn[:1].lower() if isinstance(upn, str) else ""
                    buckets.setdefault(first, []).append(pos)
            self._buckets = (key, buckets)
        buckets = self._buckets[1]
        wanted = [b for c, b in buckets.items() if (c in chars) != negated]
        return wanted[0] if len(wanted) == 1 else sorted(p for b in wanted for p in b)

    def scan(self, start: int, limit: int, predicate: Callable[[dict[str, Any]], bool] | None,
             positions: list[int] | None = None) -> tuple[list[tuple[int, dict[str, Any]]], int | None]:
        """Up to ``limit`` live users from position ``start`` on; returns them and where to resume."""
        out: list[tuple[int, dict[str, Any]]] = []
        source: Iterable[int] = (
            range(start, self._next) if positions is None else (p for p in positions if p >= start)
        )
        get = self.get
        for pos in source:
            user = get(pos)
            if user is None or (predicate is not None and not predicate(user)):
                continue
            if len(out) == limit:
                return out, pos
            out.append((pos, user))
        return out, None

    def deleted(self, key: str) -> dict[str, Any] | None:
        """A soft-deleted user (in deleted items) by id."""
        pos = self.position(key, include_deleted=True)
        return self._soft.get(pos) if pos is not None else None

    def changes(self, since: int, until: int) -> list[tuple[int, str, frozenset[str] | None]]:
        """Changes in (since, until], one per position, in the order of each position's last change."""
        merged: dict[int, tuple[str, frozenset[str] | None]] = {}
        for pos, kind, props in self._log[since:until]:
            before = merged.pop(pos, None)
            if kind == "upsert" and before is not None and before[0] == "upsert":
                props = None if props is None or before[1] is None else before[1] | props
            merged[pos] = (kind, props)
        return [(pos, kind, props) for pos, (kind, props) in merged.items()]

    def removed_id(self, pos: int) -> str | None:
        user = self._soft.get(pos)
        return user["id"] if user is not None else self._purged.get(pos)

    # -- writing -------------------------------------------------------------------------------
    def _put(self, pos: int, user: dict[str, Any]) -> None:
        self._stored[pos] = user
        self._ids[user["id"]] = pos
        self._names[user["userPrincipalName"].lower()] = pos
        if isinstance(user.get("mail"), str):
            self._mails[user["mail"].lower()] = pos

    def _check_unique(self, user: Mapping[str, Any], pos: int | None) -> None:
        for prop, index in (("userPrincipalName", self._names),):
            value = user.get(prop)
            if isinstance(value, str):
                other = self._by_name(value.lower(), prop, index, False)
                if other is not None and other != pos:
                    raise EmulatorHTTPError(
                        400, "Request_BadRequest",
                        f"Another object with the same value for property {prop} already exists.",
                    )
        if pos is None and self.position(user["id"], include_deleted=True) is not None:
            raise EmulatorHTTPError(
                400, "Request_BadRequest", "Another object with the same value for property id already exists."
            )

    def create(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Add a user (Graph shape); returns the stored user."""
        user = normalize_user(raw)
        if "id" not in raw:
            user["id"] = str(uuid.uuid4())
        user["createdDateTime"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.lock:
            self._check_unique(user, None)
            pos = self._next
            self._next += 1
            self._put(pos, user)
            self._log.append((pos, "upsert", None))
        return user

    def update(self, key: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a PATCH body to the user ``key``; only properties whose value changes are logged."""
        with self.lock:
            pos = self.position(key)
            if pos is None:
                raise EmulatorHTTPError(404, "Request_ResourceNotFound", _NOT_FOUND.format(key=key))
            current = dict(self.get(pos) or {})
            changed: set[str] = set()
            for raw_name, value in patch.items():
                if raw_name == "passwordProfile" or raw_name.startswith("@odata"):
                    continue
                name = canonical_name(raw_name)
                if name is None:
                    raise EmulatorHTTPError(
                        400, "Request_BadRequest",
                        f"Property '{raw_name}' does not exist as a declared property or extension property.",
                    )
                if name in READ_ONLY:
                    raise EmulatorHTTPError(
                        400, "Request_BadRequest", f"Property '{name}' is read-only and cannot be set."
                    )
                if name == "displayName" and not value:
                    raise EmulatorHTTPError(
                        400, "Request_BadRequest",
                        "Invalid value specified for property 'displayName' of resource 'User'.",
                    )
                if name in COLLECTION_PROPERTIES and value is not None:
                    value = list(value) or None
                if current.get(name) != value:
                    changed.add(name)
                    if value is None:
                        current.pop(name, None)
                    else:
                        current[name] = value
            if not changed:
                return current
            if "userPrincipalName" in changed:
                self._check_unique(current, pos)
            old = self.get(pos) or {}
            for prop, index in (("userPrincipalName", self._names), ("mail", self._mails)):
                old_value = old.get(prop)
                if isinstance(old_value, str) and index.get(old_value.lower()) == pos:
                    del index[old_value.lower()]
            self._put(pos, current)
            self._log.append((pos, "upsert", frozenset(changed)))
            return current

    def delete(self, key: str, *, permanent: bool = False) -> None:
        """Soft-delete (to deleted items, delta reason "changed") or purge (reason "deleted")."""
        with self.lock:
            pos = self.position(key, include_deleted=permanent)
            if pos is None:
                raise EmulatorHTTPError(404, "Request_ResourceNotFound", _NOT_FOUND.format(key=key))
            if pos in self._soft:
                user = self._soft.pop(pos)
            else:
                user = dict(self.get(pos) or {})
                user["deletedDateTime"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._stored.pop(pos, None)
            if permanent:
                self._purged[pos] = user["id"]
                self._ids.pop(user["id"], None)
            else:
                self._soft[pos] = user
            self._log.append((pos, "hard" if permanent else "soft", None))

    def restore(self, key: str) -> dict[str, Any]:
        """Bring a soft-deleted user back (it shows up in delta as a plain object)."""
        with self.lock:
            pos = self.position(key, include_deleted=True)
            user = self._soft.get(pos) if pos is not None else None
            if pos is None or user is None:
                raise EmulatorHTTPError(404, "Request_ResourceNotFound", _NOT_FOUND.format(key=key))
            user = {k: v for k, v in user.items() if k != "deletedDateTime"}
            self._check_unique(user, pos)
            del self._soft[pos]
            self._put(pos, user)
            self._log.append((pos, "upsert", None))
            return user
