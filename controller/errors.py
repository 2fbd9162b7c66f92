"""Every exception idmctl raises on purpose, in one place.

The hierarchy::

    IdmctlError                      exit_code 1; the CLI prints str(exc) as one line, never a traceback
    ├── UsageError                   a command was called with arguments that do not fit
    ├── ConfigError                  the files of an environment are not valid (carries diagnostics)
    ├── FilterSyntaxError            a filter expression does not parse (column, 1-based)
    ├── CronSyntaxError              a cron expression is not valid Quartz (names the field)
    ├── StateError                   the environment's state cannot serve the request
    │   ├── StateNotInitialized      no state yet: run `idmctl init --env E`
    │   ├── LockHeldError            another writer holds the environment lock
    │   │   └── LockLost             this writer's lease was taken over: it commits nothing more (fencing)
    │   ├── StalePlanError           a saved plan no longer matches state or files
    │   └── ManagedObjectInvalid     a managed object breaks its schema (required, unique, no "/")
    ├── ConnectorError               a source system said no (carries remote code and hint)
    │   ├── AuthError                the identity provider refused a token (AADSTS...)
    │   └── GraphError               Microsoft Graph answered with an error (status, code, request id)
    │       ├── GraphThrottled       429/503/504 that outlived the retry budget (retry_after)
    │       ├── GraphNotFound        404: the object does not exist
    │       ├── GraphAnswerInvalid   2xx with a body that cannot be used: not JSON, wrong shape, too large, a loop
    │       └── DeltaExpired         the delta link is gone (syncStateNotFound, 410): a full run is needed
    ├── PlatformError                the platform (an AIC tenant) refused or failed (status, code, path)
    │   ├── PlatformAuthError        the tenant's token endpoint refused the service account (invalid_scope...)
    │   ├── PlatformThrottled        429/5xx that outlived the retry budget (retry_after)
    │   └── RestartError             an ESV restart could not start or did not reach ready in time
    ├── ReconError                   a reconciliation could not run or complete
    │   └── RunBlocked               the safety guard stopped a run before any destructive write (exit 3)
    └── EmulatorError                the local Graph emulator cannot start or load its data
        └── EmulatorHTTPError        a request the emulator answers with an error body (status, code)

Messages follow one rule: what is wrong, where (file:line, JSON pointer, object id), what to do.
No message ever contains a secret value: connectors redact before they raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controller.diagnostics import Diagnostic

__all__ = [
    "AuthError",
    "ExitCode",
    "ConfigError",
    "ConnectorError",
    "CronSyntaxError",
    "DeltaExpired",
    "EmulatorError",
    "EmulatorHTTPError",
    "FilterSyntaxError",
    "GraphAnswerInvalid",
    "GraphError",
    "GraphNotFound",
    "GraphThrottled",
    "IdmctlError",
    "LockHeldError",
    "LockLost",
    "ManagedObjectInvalid",
    "PlatformAuthError",
    "PlatformError",
    "PlatformThrottled",
    "ReconError",
    "RestartError",
    "RunBlocked",
    "StalePlanError",
    "StateAuthFailed",
    "StateError",
    "StateNotInitialized",
    "StateUnreachable",
    "UsageError",
]


class ExitCode(IntEnum):
    """Every exit code idmctl gives, decided in one place (Terraform's 0/1/2, plus the run outcomes)."""

    OK = 0
    ERROR = 1  # usage errors too: 2 is reserved for "changes present"
    CHANGES = 2  # plan --detailed-exitcode with changes; promote --check with differing files
    BLOCKED = 3  # a run stopped by the safety guard
    PARTIAL = 4  # a run that succeeded with failed entries
    INTERRUPTED = 130  # Ctrl-C outside a run (a run ends CANCELED instead)


class IdmctlError(Exception):
    """Base of every error idmctl raises on purpose; the CLI maps it to ``exit_code``."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message.rstrip('.')}. {self.hint}"
        return self.message


class UsageError(IdmctlError):
    """Raised when a command's arguments do not fit (exit 1; exit 2 is reserved for plan changes)."""


class ConfigError(IdmctlError):
    """Raised when an environment's files are invalid; ``diagnostics`` holds every problem found."""

    def __init__(self, diagnostics: Sequence[Diagnostic], message: str | None = None) -> None:
        self.diagnostics = list(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        if message is None:
            if len(errors) == 1:
                message = errors[0].format()
            else:
                message = f"{len(errors)} errors in the configuration; run `idmctl validate` to list them"
        super().__init__(message)


class FilterSyntaxError(IdmctlError):
    """Raised when a filter expression does not parse; ``column`` is 1-based within ``text``."""

    def __init__(self, message: str, *, text: str, column: int, hint: str | None = None) -> None:
        super().__init__(f"{message} at column {column} of {_excerpt(text, column)}", hint=hint)
        self.reason = message
        self.text = text
        self.column = column


def _excerpt(text: str, column: int, width: int = 80) -> str:
    """``text`` quoted, or for a long one (hostile, generated) the part around ``column``: a message
    stays one readable line."""
    if len(text) <= 200:
        return repr(text)
    start = max(0, min(column - 1 - width // 2, len(text) - width))
    piece = repr(text[start:start + width])
    return (f"{'...' if start else ''}{piece}{'...' if start + width < len(text) else ''}"
            f" (of {len(text)} characters)")


class CronSyntaxError(IdmctlError):
    """Raised when a cron expression is not valid Quartz; ``field`` names the offending field."""

    def __init__(self, message: str, *, expression: str, field: str | None = None,
                 hint: str | None = None) -> None:
        where = f"{field} field of " if field else ""
        super().__init__(f"{where}cron {expression!r}: {message}", hint=hint)
        self.reason = message
        self.expression = expression
        self.field = field


class StateError(IdmctlError):
    """Raised when the environment's state cannot serve the request (corrupt, wrong version, ...)."""


class StateNotInitialized(StateError):
    """Raised by every command but ``init`` when the environment has no state yet."""

    def __init__(self, env: str, path: str) -> None:
        super().__init__(
            f"environment {env!r} has no state at {path}",
            hint=f"Run `idmctl init --env {env}` first",
        )
        self.env = env
        self.path = path


class StateUnreachable(StateError):
    """Raised when the state's database cannot be reached or does not exist; the message names host and
    database (never a password) and the hint says what to check."""


class StateAuthFailed(StateError):
    """Raised when the state's database refuses the credentials; names host, database and user, never the
    password."""


class LockHeldError(StateError):
    """Raised when the environment lock is held by another writer past ``--lock-timeout``."""

    def __init__(self, message: str, *, lock_id: str, holder: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.lock_id = lock_id
        self.holder = holder


class LockLost(LockHeldError):
    """Raised inside a write transaction whose writer no longer holds the environment lock (fencing)."""


class StalePlanError(StateError):
    """Raised by ``apply`` when a saved plan was made against other state or other files."""


class ManagedObjectInvalid(StateError):
    """Raised when a write would break the managed schema; ``object_id`` names the object."""

    def __init__(self, message: str, *, object_id: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.object_id = object_id


class ConnectorError(IdmctlError):
    """Raised when a source system refuses or fails; ``code`` is the remote code when there is one."""

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class AuthError(ConnectorError):
    """Raised when the token endpoint refuses the client (``code`` is the AADSTS number)."""


class GraphError(ConnectorError):
    """Raised when Microsoft Graph answers with an error body; carries status, code and request id."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        request_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, code=code, hint=hint)
        self.status = status
        self.request_id = request_id


class GraphThrottled(GraphError):
    """Raised when throttling (429/503/504) outlasts the retry budget; ``retry_after`` in seconds."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None, code: str | None = None,
                 request_id: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, status=status, code=code, request_id=request_id, hint=hint)
        self.retry_after = retry_after


class GraphNotFound(GraphError):
    """Raised when Graph answers 404 for an object read by id: its absence is proven."""


class GraphAnswerInvalid(GraphError):
    """Raised when Graph answers 2xx with a body the connector cannot use; ``code`` says how:
    NOT_JSON, UNEXPECTED_SHAPE, PAGE_TOO_LARGE, VALUE_TOO_LARGE or NEXT_LINK_LOOP."""


class DeltaExpired(GraphError):
    """Raised when a stored delta link is no longer valid (syncStateNotFound, 410): run full."""


class PlatformError(IdmctlError):
    """Raised when the platform (an AIC tenant) refuses or fails a request.

    ``status`` is the HTTP status (None when the tenant could not be reached), ``code`` the remote
    code (a CREST ``code``/``reason``, an OAuth ``error`` such as ``invalid_scope``) and ``path`` the
    REST path, never with a query string that could carry a value.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 path: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.path = path


class PlatformAuthError(PlatformError):
    """Raised when the tenant's token endpoint refuses the service account's assertion or scopes."""


class PlatformThrottled(PlatformError):
    """Raised when 429/5xx answers outlast the retry budget; ``retry_after`` in seconds."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None, code: str | None = None,
                 path: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, status=status, code=code, path=path, hint=hint)
        self.retry_after = retry_after


class RestartError(PlatformError):
    """Raised when an ESV restart cannot start (one is running) or does not reach ``ready`` in time."""


class ReconError(IdmctlError):
    """Raised when a reconciliation cannot start or cannot complete."""


class RunBlocked(ReconError):
    """Raised when the safety guard blocks a run before any destructive write (exit 3)."""

    exit_code = ExitCode.BLOCKED


class EmulatorError(IdmctlError):
    """Raised when the local emulator cannot start (state dir, port) or load a users file."""


class EmulatorHTTPError(EmulatorError):
    """Raised inside the emulator to answer a request with an error body; never reaches a user."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = dict(headers or {})
