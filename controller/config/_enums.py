"""The names a run speaks in: IDM's situations and actions, a run's state and mode.

Plain enums, apart from the pydantic models that use them (``controller.config.models`` re-exports
them): the CLI's options and the state backends' records need them without building every model.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Action", "RunMode", "RunState", "Situation"]


class Situation(StrEnum):
    """IDM's reconciliation situations, with their exact names (sync/impl/Situation.java)."""

    CONFIRMED = "CONFIRMED"
    FOUND = "FOUND"
    FOUND_ALREADY_LINKED = "FOUND_ALREADY_LINKED"
    ABSENT = "ABSENT"
    AMBIGUOUS = "AMBIGUOUS"
    MISSING = "MISSING"
    UNQUALIFIED = "UNQUALIFIED"
    SOURCE_IGNORED = "SOURCE_IGNORED"
    SOURCE_MISSING = "SOURCE_MISSING"
    TARGET_IGNORED = "TARGET_IGNORED"
    UNASSIGNED = "UNASSIGNED"
    LINK_ONLY = "LINK_ONLY"
    ALL_GONE = "ALL_GONE"


class Action(StrEnum):
    """IDM's reconciliation actions, with their exact names (sync/ReconAction.java)."""

    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    LINK = "LINK"
    UNLINK = "UNLINK"
    EXCEPTION = "EXCEPTION"
    IGNORE = "IGNORE"
    REPORT = "REPORT"
    NOREPORT = "NOREPORT"
    ASYNC = "ASYNC"


class RunState(StrEnum):
    """The states a reconciliation run moves through (IDM's, plus BLOCKED for the safety guard)."""

    ACTIVE = "ACTIVE"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    BLOCKED = "BLOCKED"


class RunMode(StrEnum):
    """A full reconciliation, or an incremental one (Graph delta on embedded, liveSync on AIC)."""

    FULL = "full"
    INCREMENTAL = "incremental"
