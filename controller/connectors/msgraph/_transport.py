"""The one HTTP transport of a Graph connector: a requests session shared by msal and Graph calls.

It owns TLS trust (a configured CA bundle is passed on every request, so ``REQUESTS_CA_BUNDLE`` and
``CURL_CA_BUNDLE`` cannot override it), timeouts, the retry policy for throttling, dropped connections
and (for Graph pages, once Graph has answered) bodies that are not JSON, within one bounded total wait,
and reading a Graph answer with a cap on its size so that one page cannot take unbounded memory.
The retry loop itself is ``controller.transport``'s, shared with the AIC platform's client.

A refused connection or a name that does not resolve is not retried: nothing suggests it passes, so
it fails at once with the host and what to check. Each wait before a retry is logged (logger
``controller.connectors.msgraph``, INFO) as ``retrying in 4 s (attempt 3 of 8): 429 Too Many Requests``;
each request at DEBUG. Neither line carries a header, a body or a query string (tokens, secrets).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests

from controller.connectors.msgraph._settings import GraphSettings
from controller.errors import ConnectorError, GraphAnswerInvalid
from controller.transport import RetryPolicy, host_of, parse_retry_after, short_reason
from controller.transport import Transport as _BaseTransport

__all__ = ["NOT_JSON", "JsonAnswer", "MsalHttpClient", "RetryPolicy", "Transport", "parse_retry_after"]

RETRY_STATUSES = frozenset({429, 503, 504})
_READ_CHUNK = 64 * 1024
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


class Transport(_BaseTransport):
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
        super().__init__(
            verify=str(settings.ca_bundle) if settings.ca_bundle else True,
            timeouts=settings.timeouts,
            policy=policy or RetryPolicy(max_total_wait=settings.max_retry_wait),
            log=log,
            label=f"connector {settings.name!r}",
            session=session,
            sleep=sleep,
            rng=rng,
        )
        self.settings = settings

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

        return self.exchange(method, url, examine, retry_connection=retry_connection, stream=False,
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
            return self._examine_json(response, max_bytes, where, retry_not_json=retry_not_json)

        return self.exchange("GET", url, examine, retry_connection=True, stream=True, headers=dict(headers))

    def post_json(self, url: str, payload: bytes, *, headers: Mapping[str, str], max_bytes: int,
                  retry_not_json: bool, where: str, answer_statuses: frozenset[int] = frozenset()) -> JsonAnswer:
        """POST ``payload`` (JSON) and read the answer as ``get_json`` does, for a request that only
        reads (a ``$batch`` of GETs): a dropped connection is retried as a GET's is. Throttling is not
        retried here: a batch is throttled whole or in parts, and its caller retries both within one
        budget. The body of an error status in ``answer_statuses`` is parsed too (a ``$batch`` answers
        424 when a request in it was throttled, with every response in it)."""

        def examine(response: requests.Response) -> tuple[bool, JsonAnswer]:
            return self._examine_json(response, max_bytes, where, retry_not_json=retry_not_json,
                                      retry_throttled=False, answer_statuses=answer_statuses)

        return self.exchange("POST", url, examine, retry_connection=True, stream=True, data=payload,
                             headers={**headers, "Content-Type": "application/json"})

    def _examine_json(self, response: requests.Response, max_bytes: int, where: str, *, retry_not_json: bool,
                      retry_throttled: bool = True,
                      answer_statuses: frozenset[int] = frozenset()) -> tuple[bool, JsonAnswer]:
        body = self._read_capped(response, max_bytes, where)
        status = response.status_code
        if status in RETRY_STATUSES:
            return retry_throttled, JsonAnswer(response, NOT_JSON, len(body))
        if status >= 300 and status not in answer_statuses:
            return False, JsonAnswer(response, NOT_JSON, len(body))
        try:
            parsed = orjson.loads(body)  # a page of 999 users parses in a third of json's time
        except ValueError:  # UnicodeDecodeError is one too
            return retry_not_json and status < 300, JsonAnswer(response, NOT_JSON, len(body))
        return False, JsonAnswer(response, parsed, len(body))

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

    def tls_error(self, url: str, exc: Exception) -> ConnectorError:
        trust = (f"the CA bundle {self.settings.ca_bundle}" if self.settings.ca_bundle
                 else "the system CA store")
        return ConnectorError(
            f"connector {self.settings.name!r}: TLS verification of {host_of(url)} failed against {trust}"
            f" ({short_reason(exc)})",
            code="TLS",
            hint="Set spec.caBundle to the PEM of the CA that signed this server (the emulator prints it), "
            "and check spec.authorityHost / spec.graphUrl",
        )

    def connection_error(self, url: str, exc: Exception) -> ConnectorError:
        reason = short_reason(exc)
        host = host_of(url)
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
