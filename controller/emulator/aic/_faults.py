"""The AIC emulator's faults: the Graph emulator's 429/5xx/drop, plus two of AIC's own.

``restart-hang``  the next ``POST /environment/startup?_action=restart`` starts a restart that never
                  finishes (until the admin API finishes it or resets the tenant)
``lose-write``    a PUT/PATCH under ``/openidm/`` is answered 200/201 and echoed, but not stored: the
                  read-after-write loss AIC shows on config (reference §2.1, PAM Q14)

Specs read as the Graph emulator's: ``429,retry-after=1,count=N,path=/openidm/config``,
``503,count=2``, ``drop``, ``restart-hang``, ``lose-write,count=1,path=/openidm/config/mapping/``.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.emulator._faults import Fault
from controller.errors import UsageError

__all__ = ["AIC_KINDS", "AicFault"]

AIC_KINDS = ("restart-hang", "lose-write")


@dataclass
class AicFault(Fault):
    """A fault of the AIC emulator (see the module docstring for the kinds)."""

    def __post_init__(self) -> None:
        self.kind = self.kind.lower().replace("_", "-")
        if self.kind in AIC_KINDS:
            self.status = None
            self.method = self.method.upper() if self.method else None
            return
        super().__post_init__()
        if self.kind not in ("status", "drop"):
            raise UsageError(f"fault kind {self.kind!r} is a Graph emulator fault, not an AIC one",
                             hint=f"Use a status (429, 500, 503 …), drop, or {', '.join(AIC_KINDS)}")

    def applies(self, method: str, path: str) -> bool:
        if self.kind == "restart-hang":
            return method == "POST" and path.rstrip("/") == "/environment/startup"
        if self.kind == "lose-write":
            return method in ("PUT", "PATCH") and path.startswith("/openidm/")
        return True

    @classmethod
    def parse(cls, spec: str) -> AicFault:
        """A Graph-style spec (``429,retry-after=1,count=2,path=/openidm/config``, ``drop``) or an AIC kind
        with the same options (``restart-hang``, ``lose-write,count=1,path=/openidm/config/mapping/``)."""
        head, sep, rest = spec.strip().partition(",")
        kind = head.strip().lower()
        base = Fault.parse(("500" + sep + rest) if kind in AIC_KINDS else spec)
        if kind not in AIC_KINDS and base.kind not in ("status", "drop"):
            raise UsageError(f"fault {spec!r} is a Graph emulator fault, not an AIC one",
                             hint=f"Use a status (429, 500, 503 …), drop, or {', '.join(AIC_KINDS)}")
        return cls(status=None if kind in AIC_KINDS else base.status,
                   retry_after=None if kind in AIC_KINDS else base.retry_after, count=base.count,
                   path=base.path, method=base.method, skip=base.skip, drop=base.drop,
                   kind=kind if kind in AIC_KINDS else base.kind)
