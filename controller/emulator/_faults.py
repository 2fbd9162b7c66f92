"""Injected faults: throttling (429 + Retry-After), 5xx, dropped connections, refused logins and broken pages.

A fault matches requests by path prefix and method, can let the first ``skip`` matches through (to
fail, say, the third page), and fires ``count`` times (``None``: until cleared). Its ``kind`` says what
the emulator does instead of answering normally:

``status``          an error status with Graph's error body (and Retry-After on 429/503)
``drop``            close the connection without answering
``expired-secret``  the token endpoint refuses the client secret as expired (AADSTS7000222)
``not-json``        a Graph GET answers 200 with JSON cut off mid-page
``html``            a Graph GET answers 200 with an HTML page (what a proxy or portal sends)
``body``            a Graph GET answers 200 with ``body`` as given (wrong shapes: ``{"value": {}}``, ``[]``)
``next-link-loop``  the real page, its ``@odata.nextLink`` pointing back at the page itself
``oversized-page``  the real page with its users repeated to ``items`` entries, streamed chunked
``huge-value``      the real page with the first user's displayName ``size`` characters long

The page kinds only touch Graph GETs (``/v1.0/...``) and, those that replace the whole answer
(``not-json``, ``html``, ``body``), ``POST /v1.0/$batch``; ``expired-secret`` only token POSTs.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from controller.errors import UsageError

__all__ = ["Fault", "FaultBook"]

_ids = itertools.count(1)


KINDS = ("status", "drop", "expired-secret", "not-json", "html", "body", "next-link-loop", "oversized-page",
         "huge-value")
# Kinds that change a Graph GET's answer (the page kinds) and those of them that start from the real page.
PAGE_KINDS = frozenset({"not-json", "html", "body", "next-link-loop", "oversized-page", "huge-value"})
REWRITE_KINDS = frozenset({"next-link-loop", "oversized-page", "huge-value"})


@dataclass
class Fault:
    """One injected fault; ``status`` 0 with ``drop=True`` closes the connection without answering."""

    status: int | None = None
    retry_after: int | None = None
    count: int | None = 1
    path: str | None = None
    method: str | None = None
    skip: int = 0
    drop: bool = False
    kind: str = "status"
    body: str | None = None
    content_type: str | None = None
    items: int = 0
    size: int = 0
    id: int = field(default_factory=lambda: next(_ids))

    def __post_init__(self) -> None:
        self.kind = self.kind.lower().replace("_", "-")
        if self.drop or self.kind == "drop":
            self.kind, self.drop, self.status = "drop", True, 0
        if self.kind not in KINDS:
            raise UsageError(f"fault kind {self.kind!r} is not known", hint=f"Use one of {', '.join(KINDS)}")
        if self.kind == "status":
            self.status = 429 if self.status is None else self.status
            if not 400 <= self.status <= 599:
                raise UsageError(f"fault status {self.status} is not an HTTP error status",
                                 hint="Use 429, 500, 502, 503, 504 or 'drop'")
            if self.retry_after is None and self.status in (429, 503):
                self.retry_after = 1
        elif self.kind == "expired-secret":
            self.status = 401
        elif self.kind in PAGE_KINDS:
            self.status = 200
        if self.kind == "body" and self.body is None:
            raise UsageError("a 'body' fault needs the body to answer with", hint="Pass body='{\"value\": {}}'")
        if self.kind == "oversized-page" and self.items < 1:
            raise UsageError("an 'oversized-page' fault needs items=N (how many users the page holds)")
        if self.kind == "huge-value" and self.size < 1:
            raise UsageError("a 'huge-value' fault needs size=N (characters in the value)")
        if self.method:
            self.method = self.method.upper()

    def applies(self, method: str, path: str) -> bool:
        """Whether this fault may answer ``method path`` at all (before path, method and skip)."""
        if self.kind in PAGE_KINDS:
            # A `$batch` only reads (idmctl's do): its answer can break as a page's does.
            batch = method == "POST" and path.rstrip("/").lower() == "/v1.0/$batch" and self.kind not in REWRITE_KINDS
            return (method == "GET" and path.startswith("/v1.0/")) or batch
        if self.kind == "expired-secret":
            return method == "POST" and path.rstrip("/").endswith("/token")
        return True

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """``429[,retry-after=2][,count=3][,path=/v1.0/users][,method=GET][,skip=1]``, ``drop[,...]``, or a
        kind: ``expired-secret``, ``not-json``, ``html``, ``next-link-loop``, ``oversized-page,items=N``,
        ``huge-value,size=N`` (a ``body`` fault takes its body through the API, not a spec)."""
        head, *options = [part.strip() for part in spec.split(",") if part.strip()] or [""]
        kwargs: dict[str, Any] = {}
        if head.isdigit():
            kwargs["status"] = int(head)
        elif head.lower() in KINDS and head.lower() not in ("status", "body"):
            kwargs["kind"] = head.lower()
        else:
            raise UsageError(f"fault {spec!r}: starts with {head!r}, not a status or a fault kind",
                             hint="Write e.g. --fault 429,retry-after=1,count=2,path=/v1.0/users, or a kind: "
                                  "drop, expired-secret, not-json, html, next-link-loop, oversized-page,items=N, "
                                  "huge-value,size=N")
        for option in options:
            key, _, value = option.partition("=")
            key = key.strip().lower().replace("-", "_")
            if key in ("retry_after", "skip", "items", "size"):
                kwargs[key] = int(value)
            elif key == "count":
                kwargs[key] = None if value in ("*", "forever", "") else int(value)
            elif key in ("path", "method"):
                kwargs[key] = value
            else:
                raise UsageError(f"fault {spec!r}: unknown option {key!r}",
                                 hint="Options are retry-after, count, path, method, skip, items, size")
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultBook:
    """The active faults, consulted before every non-admin request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault that fires for this request (consuming one of its shots), else None."""
        with self._lock:
            for fault in self._faults:
                if not fault.applies(method, path):
                    continue
                if fault.path and not path.lower().startswith(fault.path.lower()):
                    continue
                if fault.method and fault.method != method:
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                return fault
        return None
