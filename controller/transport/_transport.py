"""The retry loop, retry policy, timeouts and the small text helpers both REST clients use.

A refused connection or a name that does not resolve is not retried: nothing suggests it passes, so
it fails at once (``connection_error``). Each wait before a retry is logged at INFO as
``<label>: retrying in 4 s (attempt 3 of 8): 429 Too Many Requests (GET https://host/path)``; each
request at DEBUG with its status and milliseconds. Neither line carries a header, a body or a query
string (tokens, secrets, paging cookies).
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "RetryPolicy",
    "Timeouts",
    "Transport",
    "host_of",
    "is_unreachable",
    "one_line",
    "parse_retry_after",
    "redact",
    "short_reason",
    "where",
]

DEFAULT_CONNECT_TIMEOUT = 10.0
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds to wait for a TCP/TLS connection and for each read of a response."""

    connect: float = DEFAULT_CONNECT_TIMEOUT
    read: float = 60.0

    @classmethod
    def of(cls, seconds: float) -> Timeouts:
        """The timeouts of a ``timeoutSeconds`` setting: that long to read, at most 10 s to connect."""
        return cls(connect=min(DEFAULT_CONNECT_TIMEOUT, float(seconds)), read=float(seconds))

    def as_tuple(self) -> tuple[float, float]:
        return (self.connect, self.read)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before retrying: Retry-After first, else exponential backoff + jitter."""

    max_total_wait: float = 120.0
    max_attempts: int = 8
    backoff_base: float = 1.0
    backoff_cap: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return retry_after
        # "Equal jitter": at least half the exponential step, so retries never bunch up at zero.
        step = min(self.backoff_cap, self.backoff_base * 2.0**attempt)
        return step / 2 + rng.uniform(0, step / 2)


def host_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def where(method: str, url: str) -> str:
    """``GET https://host/path`` as log lines show a request: no query (paging tokens, filters)."""
    parts = urlsplit(url)
    return f"{method.upper()} {parts.scheme}://{parts.netloc}{parts.path}"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced; applied to anything remote we repeat."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def one_line(text: str, limit: int) -> str:
    """``text`` on one line (white space folded), cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _seconds(delay: float) -> str:
    return f"{delay:.0f}" if delay >= 10 or delay == int(delay) else f"{delay:.1f}"


def is_unreachable(exc: Exception) -> bool:
    """Whether ``exc`` is a connection refused or a name that does not resolve (not a timeout or a drop).

    urllib3 2 makes NewConnectionError a ConnectTimeoutError subclass; requests raises ConnectTimeout
    only for a real connect timeout, so the type of the requests exception tells them apart.
    """
    if isinstance(exc, requests.exceptions.Timeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def short_reason(exc: Exception) -> str:
    """The innermost useful sentence of a requests/urllib3/ssl exception (they nest several levels)."""
    text = str(exc)
    ssl_reason = re.search(r"\] ([^\]]*?) \(_ssl", text)
    if ssl_reason:
        return ssl_reason.group(1)
    for pattern in (r"Failed to establish a new connection: \[Errno -?\d+\] ([^'\")]+)",
                    r"(Read timed out|Connection refused|Connection reset by peer|Remote end closed "
                    r"connection without response|Name or service not known|Failed to resolve '[^']*')",
                    r"(timed out)"):
        found = re.search(pattern, text)
        if found:
            return found.group(1).strip()
    return text[:160]


class Transport:
    """Sends one client's requests; ``sleep`` is injectable so tests do not wait for real.

    Subclasses say what a TLS failure and an unreachable host mean to their users
    (``tls_error``, ``connection_error``); ``label`` starts the retry log lines.
    """

    def __init__(
        self,
        *,
        verify: str | bool,
        timeouts: Timeouts,
        policy: RetryPolicy,
        log: logging.Logger,
        label: str,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        on_response: Callable[[str, str, int, float], None] | None = None,
    ) -> None:
        self.session = session or requests.Session()
        # trust_env stays on so HTTPS_PROXY/NO_PROXY keep working; TLS trust is pinned per request.
        self._verify = verify
        self._timeout = timeouts.as_tuple()
        self._sleep = sleep
        self.policy = policy
        self._rng = rng or random.Random()
        self._log = log
        self.label = label
        self._on_response = on_response

    @property
    def verify(self) -> str | bool:
        return self._verify

    def close(self) -> None:
        self.session.close()

    def tls_error(self, url: str, exc: Exception) -> Exception:
        """The error for a TLS verification failure talking to ``url``."""
        raise NotImplementedError

    def connection_error(self, url: str, exc: Exception) -> Exception:
        """The error for a host that cannot be reached (refused, no such name, dropped past the budget)."""
        raise NotImplementedError

    def exchange(self, method: str, url: str, examine: Callable[[requests.Response], tuple[bool, _T]], *,
                 retry_connection: bool, stream: bool = False, **send: Any) -> _T:
        """The one retry loop: ``examine`` reads an answer and says whether to try again.

        When the budget (``policy.max_total_wait``, ``policy.max_attempts``) runs out, the last
        result ``examine`` made is returned: the caller maps a throttled answer to its error.
        """
        waited = 0.0
        attempt = 0
        while True:
            try:
                # A configured CA must win over REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE: requests only
                # lets the environment replace verify when it is True/None, so pass it every time.
                started = time.monotonic()
                response = self.session.request(
                    method, url, verify=self._verify, timeout=self._timeout, allow_redirects=False,
                    stream=stream, **send,
                )
                elapsed = (time.monotonic() - started) * 1000
                if self._log.isEnabledFor(logging.DEBUG):
                    self._log.debug("%s -> %s (%.0f ms)", where(method, url), response.status_code, elapsed)
                if self._on_response is not None:
                    self._on_response(method.upper(), urlsplit(url).path, response.status_code, elapsed)
                retry, result = examine(response)  # a body read may break off: that is a dropped connection
            except requests.exceptions.SSLError as exc:
                raise self.tls_error(url, exc) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:
                if is_unreachable(exc):  # refused, or no such name: waiting does not make it answer
                    raise self.connection_error(url, exc) from None
                delay = self.policy.delay(attempt, None, self._rng)
                if retry_connection and self._within_budget(attempt, delay, waited):
                    self.announce(delay, attempt, f"{short_reason(exc)} ({where(method, url)})")
                    self._sleep(delay)
                    waited += delay
                    attempt += 1
                    continue
                raise self.connection_error(url, exc) from None
            if not retry:
                return result
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            delay = self.policy.delay(attempt, retry_after, self._rng)
            if not self._within_budget(attempt, delay, waited):
                return result
            response.close()
            status = f"{response.status_code} {response.reason or ''}".strip()
            if response.status_code < 300:
                status += ", not JSON"
            self.announce(delay, attempt, f"{status} ({where(method, url)})")
            self._sleep(delay)
            waited += delay
            attempt += 1

    def wait_to_retry(self, attempt: int, retry_after: float | None, waited: float, why: str) -> float | None:
        """Wait before retry ``attempt + 1`` of something answered in parts (a ``$batch``), as ``exchange``
        waits: the seconds waited, or None (nothing waited) when the budget does not allow another try."""
        delay = self.policy.delay(attempt, retry_after, self._rng)
        if not self._within_budget(attempt, delay, waited):
            return None
        self.announce(delay, attempt, why)
        self._sleep(delay)
        return delay

    def _within_budget(self, attempt: int, delay: float, waited: float) -> bool:
        """Whether another try after waiting ``delay`` more keeps within ``max_attempts`` and ``max_total_wait``."""
        return attempt + 1 < self.policy.max_attempts and waited + delay <= self.policy.max_total_wait

    def announce(self, delay: float, attempt: int, why: str) -> None:
        # attempt counts the retries made so far; the one announced is attempt + 2 (the first try is 1).
        self._log.info("%s: retrying in %s s (attempt %d of %d): %s", self.label, _seconds(delay),
                       attempt + 2, self.policy.max_attempts, why)
