"""Injected faults: throttling (429 + Retry-After), 5xx, and connections dropped without a response.

A fault matches requests by path prefix and method, can let the first ``skip`` matches through (to
fail, say, the third page), and fires ``count`` times (``None``: until cleared).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from controller.errors import UsageError

__all__ = ["Fault", "FaultBook"]

_ids = itertools.count(1)


@dataclass
class Fault:
    """One injected fault; ``status`` 0 with ``drop=True`` closes the connection without answering."""

    status: int = 429
    retry_after: int | None = None
    count: int | None = 1
    path: str | None = None
    method: str | None = None
    skip: int = 0
    drop: bool = False
    id: int = field(default_factory=lambda: next(_ids))

    def __post_init__(self) -> None:
        if self.drop:
            self.status = 0
        elif not 400 <= self.status <= 599:
            raise UsageError(f"fault status {self.status} is not an HTTP error status",
                             hint="Use 429, 500, 502, 503, 504 or 'drop'")
        if self.retry_after is None and self.status in (429, 503):
            self.retry_after = 1
        if self.method:
            self.method = self.method.upper()

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """``429[,retry-after=2][,count=3][,path=/v1.0/users][,method=GET][,skip=1]`` or ``drop[,...]``."""
        head, *options = [part.strip() for part in spec.split(",") if part.strip()]
        kwargs: dict[str, Any] = {}
        if head.lower() == "drop":
            kwargs["drop"] = True
        elif head.isdigit():
            kwargs["status"] = int(head)
        else:
            raise UsageError(f"fault {spec!r}: starts with {head!r}, not a status or 'drop'",
                             hint="Write e.g. --fault 429,retry-after=1,count=2,path=/v1.0/users")
        for option in options:
            key, _, value = option.partition("=")
            key = key.strip().lower().replace("-", "_")
            if key in ("retry_after", "skip"):
                kwargs[key] = int(value)
            elif key == "count":
                kwargs[key] = None if value in ("*", "forever", "") else int(value)
            elif key in ("path", "method"):
                kwargs[key] = value
            else:
                raise UsageError(f"fault {spec!r}: unknown option {key!r}",
                                 hint="Options are retry-after, count, path, method, skip")
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
