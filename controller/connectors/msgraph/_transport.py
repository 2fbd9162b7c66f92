"""The one HTTP transport of a Graph connector: a requests session shared by msal and Graph calls.

It owns TLS trust (a configured CA bundle is passed on every request, so ``REQUESTS_CA_BUNDLE`` and
``CURL_CA_BUNDLE`` cannot override it), timeouts, the retry policy for throttling, dropped connections
and (for Graph pages, once Graph has answered) bodies that are not JSON, within one bounded total wait,
and reading a Graph answer with a cap on its size so that one page cannot take unbounded memory.

A refused connection or a name that does not resolve is not retried: nothing suggests it passes, so
it fails at once with the host and what to check. Each wait before a retry is logged (logger
``controller.connectors.msgraph``, INFO) as ``retrying in 4 s (attempt 3 of 8): 429 Too Many Requests``;
each request at DEBUG. Neither line carries a header, a body or a query string (tokens, secrets).
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson
import requests
import urllib3.exceptions

from controller.connectors.msgraph._settings import GraphSettings
from controller.errors import ConnectorError, GraphAnswerInvalid

__all__ = ["NOT_JSON", "JsonAnswer", "MsalHttpClient", "RetryPolicy", "Transport", "parse_retry_after"]

RETRY_STATUSES = frozenset({429, 503, 504})
_READ_CHUNK = 64 * 1024
_T = TypeVar("_T")
# The package's logger (not this module's): the CLI shows its INFO lines, and DEBUG with -v.
log = logging.getLogger("controller.connectors.msgraph")


class _NotJson:
    """The parsed body of an answer that was not JSON (HTML, a page cut off mid-way)."""

    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON = _NotJson()


@dataclass(frozen=True, slots=True)
class JsonAnswer:
    """A Graph answer read whole within the size cap: the response, its parsed body and its size."""

    response: requests.Response
    data: Any  # the parsed JSON, or NOT_JSON
    size: int


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


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _where(method: str, url: str) -> str:
    """``GET https://host/path`` as log lines show a request: no query (paging tokens, filters)."""
    parts = urlsplit(url)
    return f"{method.upper()} {parts.scheme}://{parts.netloc}{parts.path}"


def _seconds(delay: float) -> str:
    return f"{delay:.0f}" if delay >= 10 or delay == int(delay) else f"{delay:.1f}"


def _unreachable(exc: Exception) -> bool:
    """Whether ``exc`` is a connection refused or a name that does not resolve (not a timeout or a drop).

    urllib3 2 makes NewConnectionError a ConnectTimeoutError subclass; requests raises ConnectTimeout
    only for a real connect timeout, so the type of the requests exception tells them apart.
    """
    if isinstance(exc, requests.exceptions.Timeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


class Transport:
    """Sends requests for one connector; ``sleep`` is injectable so tests do not wait for real."""

    def __init__(
        self,
        settings: GraphSettings,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        # trust_env stays on so HTTPS_PROXY/NO_PROXY keep working; TLS trust is pinned per request.
        self._verify: str | bool = str(settings.ca_bundle) if settings.ca_bundle else True
        self._timeout = settings.timeouts.as_tuple()
        self._sleep = sleep
        self.policy = policy or RetryPolicy(max_total_wait=settings.max_retry_wait)
        self._rng = rng or random.Random()

    @property
    def verify(self) -> str | bool:
        return self._verify

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_connection: bool | None = None,
    ) -> requests.Response:
        """Send one request, retrying 429/503/504 and (for GETs) dropped connections within budget.

        When the budget runs out the last throttled response is returned: the caller maps it to
        ``GraphThrottled`` (Graph) or hands it to msal, which reports it.
        """
        if retry_connection is None:
            retry_connection = method.upper() == "GET"

        def examine(response: requests.Response) -> tuple[bool, requests.Response]:
            return response.status_code in RETRY_STATUSES, response

        return self._exchange(method, url, examine, retry_connection=retry_connection, stream=False,
                              params=params, data=data, headers=dict(headers or {}))

    def get_json(self, url: str, *, headers: Mapping[str, str], max_bytes: int, retry_not_json: bool,
                 where: str) -> JsonAnswer:
        """GET a Graph answer and parse it, reading at most ``max_bytes`` of body (streamed, so a larger
        answer never sits in memory whole): more raises ``ConnectorError`` PAGE_TOO_LARGE naming ``where``.

        429/503/504 and dropped connections are retried as in ``request``; with ``retry_not_json`` a
        2xx body that is not JSON (an HTML page, a page cut off) is retried the same way, within the
        same budget, and returned as ``NOT_JSON`` once the budget is spent.
        """

        def examine(response: requests.Response) -> tuple[bool, JsonAnswer]:
            body = self._read_capped(response, max_bytes, where)
            status = response.status_code
            if status in RETRY_STATUSES:
                return True, JsonAnswer(response, NOT_JSON, len(body))
            if status >= 300:
                return False, JsonAnswer(response, NOT_JSON, len(body))
            try:
                parsed = orjson.loads(body)  # a page of 999 users parses in a third of json's time
            except ValueError:  # UnicodeDecodeError is one too
                return retry_not_json, JsonAnswer(response, NOT_JSON, len(body))
            return False, JsonAnswer(response, parsed, len(body))

        return self._exchange("GET", url, examine, retry_connection=True, stream=True, headers=dict(headers))

    def _exchange(self, method: str, url: str, examine: Callable[[requests.Response], tuple[bool, _T]], *,
                  retry_connection: bool, stream: bool, **send: Any) -> _T:
        """The one retry loop: ``examine`` reads an answer and says whether to try again."""
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
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("%s -> %s (%.0f ms)", _where(method, url), response.status_code,
                              (time.monotonic() - started) * 1000)
                retry, result = examine(response)  # a body read may break off: that is a dropped connection
            except requests.exceptions.SSLError as exc:
                raise self._tls_error(url, exc) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:
                if _unreachable(exc):  # refused, or no such name: waiting does not make it answer
                    raise self._connection_error(url, exc) from None
                delay = self.policy.delay(attempt, None, self._rng)
                if (retry_connection and attempt + 1 < self.policy.max_attempts
                        and waited + delay <= self.policy.max_total_wait):
                    self._announce(delay, attempt, f"{_short(exc)} ({_where(method, url)})")
                    self._sleep(delay)
                    waited += delay
                    attempt += 1
                    continue
                raise self._connection_error(url, exc) from None
            if not retry:
                return result
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            delay = self.policy.delay(attempt, retry_after, self._rng)
            if attempt + 1 >= self.policy.max_attempts or waited + delay > self.policy.max_total_wait:
                return result
            response.close()
            status = f"{response.status_code} {response.reason or ''}".strip()
            if response.status_code < 300:
                status += ", not JSON"
            self._announce(delay, attempt, f"{status} ({_where(method, url)})")
            self._sleep(delay)
            waited += delay
            attempt += 1

    def _announce(self, delay: float, attempt: int, why: str) -> None:
        # attempt counts the retries made so far; the one announced is attempt + 2 (the first try is 1).
        log.info("connector %r: retrying in %s s (attempt %d of %d): %s", self.settings.name, _seconds(delay),
                 attempt + 2, self.policy.max_attempts, why)

    def _read_capped(self, response: requests.Response, max_bytes: int, where: str) -> bytes:
        """The body of a streamed ``response``, refused past ``max_bytes`` (announced or read)."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            response.close()
            raise self._too_large(response, where, f"announces {int(declared):,} bytes", max_bytes)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(_READ_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                response.close()  # stop reading: the rest of the answer is never fetched
                raise self._too_large(response, where, f"goes on past {max_bytes:,} bytes", max_bytes)
            chunks.append(chunk)
        body = b"".join(chunks)
        response._content = body  # what .text and .json() read (error bodies are mapped from them)
        return body

    def _too_large(self, response: requests.Response, where: str, what: str, max_bytes: int) -> GraphAnswerInvalid:
        return GraphAnswerInvalid(
            f"connector {self.settings.name!r}: {where}: the answer {what}, more than the "
            f"{_size(max_bytes)} one page may hold; refusing it",
            status=response.status_code,
            code="PAGE_TOO_LARGE",
            request_id=response.headers.get("request-id"),
            hint="Graph pages hold at most $top users (pageSize, at most 999); an answer this large comes "
                 "from a server or proxy that is not Microsoft Graph behaving: check spec.graphUrl and what "
                 "sits between this host and Graph",
        )

    def _tls_error(self, url: str, exc: Exception) -> ConnectorError:
        trust = (f"the CA bundle {self.settings.ca_bundle}" if self.settings.ca_bundle
                 else "the system CA store")
        return ConnectorError(
            f"connector {self.settings.name!r}: TLS verification of {_host(url)} failed against {trust}"
            f" ({_short(exc)})",
            code="TLS",
            hint="Set spec.caBundle to the PEM of the CA that signed this server (the emulator prints it), "
            "and check spec.authorityHost / spec.graphUrl",
        )

    def _connection_error(self, url: str, exc: Exception) -> ConnectorError:
        reason = _short(exc)
        host = _host(url)
        if "resolve" in reason.lower() or "not known" in reason.lower() or "getaddrinfo" in str(exc):
            hint = (f"The name {urlsplit(url).hostname} does not resolve: check spec.authorityHost and "
                    "spec.graphUrl for a typo, the DNS of this host and any HTTPS_PROXY setting")
        elif "refused" in reason.lower():
            hint = (f"Nothing listens at {host}: check spec.authorityHost and spec.graphUrl (the port too); "
                    "for the emulator, start it with `idmctl emulator` and use the environment it prints "
                    "settings for (environments/demo)")
        else:
            hint = "Check spec.authorityHost and spec.graphUrl, the network and any HTTPS_PROXY setting"
        return ConnectorError(
            f"connector {self.settings.name!r}: cannot reach {host} ({reason})",
            code="NETWORK",
            hint=hint,
        )


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB" if n >= 1024 * 1024 else f"{n / 1024:g} KiB"


def _short(exc: Exception) -> str:
    # requests nests urllib3 and ssl reasons several levels deep; the innermost sentence is the useful one.
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


class MsalHttpClient:
    """The ``http_client`` msal is given: msal's GET/POST go through the connector's transport.

    It remembers the last error body of an OpenID-configuration GET, because msal turns an unknown
    tenant into a bare ValueError and the AADSTS code would otherwise be lost.
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.last_discovery_error: dict[str, Any] | None = None

    def get(self, url: str, params: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None, **_: Any) -> requests.Response:
        response = self._transport.request("GET", url, params=params, headers=headers)
        if response.status_code >= 400 and "openid-configuration" in url:
            try:
                body = json.loads(response.text)
            except ValueError:
                body = None
            self.last_discovery_error = body if isinstance(body, dict) else {"status": response.status_code}
        return response

    def post(self, url: str, params: Mapping[str, Any] | None = None, data: Any = None,
             headers: Mapping[str, str] | None = None, **_: Any) -> requests.Response:
        # msal POSTs only to the token endpoint; a client-credentials grant changes nothing on the
        # server, so a connection dropped before the answer is retried like a GET.
        return self._transport.request("POST", url, params=params, data=data, headers=headers,
                                       retry_connection=True)

    def close(self) -> None:
        """msal may close its client; the session belongs to the connector, which closes it."""
