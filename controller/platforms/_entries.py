"""The filters of ``runs show`` (situation, action, status), checked the same way on every platform."""

from __future__ import annotations

import difflib

from controller.config.models import Action, Situation
from controller.errors import UsageError

__all__ = ["check_entry_filters"]

_RUN_STATUSES = ("SUCCESS", "FAILURE")
# Entry statuses are IDM's; people type the run states they see elsewhere.
_STATUS_ALIASES = {"FAILED": "FAILURE", "SUCCEEDED": "SUCCESS"}


def check_entry_filters(situation: str | None, action: str | None, status: str | None) -> str | None:
    """Refuse a value that is no situation, action or entry status (with did-you-mean); the status as stored."""
    status = _STATUS_ALIASES.get(status.upper(), status.upper()) if status else None
    for value, allowed, name in ((situation, [str(s) for s in Situation], "--situation"),
                                 (action, [str(a) for a in Action], "--action"),
                                 (status, list(_RUN_STATUSES), "--status")):
        if value is not None and value.upper() not in allowed:
            close = difflib.get_close_matches(value.upper(), allowed, n=1)
            raise UsageError(f"{name} {value!r} is not one of {', '.join(allowed)}",
                             hint=f"Did you mean {close[0]}?" if close else None)
    return status
