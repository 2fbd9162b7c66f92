"""The AIC client's transport and the one mapping of a tenant's error answers to ``PlatformError``.

The transport is ``controller.transport``'s (the Graph connector's rules): the CA bundle pinned on
every request, ``timeoutSeconds``, and 429/502/503/504 and dropped connections retried within one
back-off budget (``maxRetryWaitSeconds``), ``Retry-After`` first; past the budget a
``PlatformThrottled``. Errors name the method, the path (never a query string) and what to do; a
remote message is repeated on one line, cut short, with every secret the caller names redacted.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from controller.errors import PlatformAuthError, PlatformError, PlatformThrottled
from controller.transport import (
    RetryPolicy,
    Timeouts,
    Transport,
    host_of,
    one_line,
    parse_retry_after,
    redact,
    short_reason,
)

__all__ = [
    "RETRY_STATUSES",
    "AicTransport",
    "error_body",
    "phrase",
    "platform_error",
    "remote_text",
    "throttled",
]

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_REMOTE_MESSAGE = 200
# The package's logger: the CLI shows its INFO lines (retries), and with -v the DEBUG request lines.
log = logging.getLogger("controller.platforms.aic")


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown Status"


class AicTransport(Transport):
    """Sends one tenant's requests (the token endpoint's too) with the platform's TLS, timeout and retries."""

    def __init__(
        self,
        tenant_url: str,
        *,
        ca_bundle: Path | None,
        timeouts: Timeouts,
        max_retry_wait: float,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        on_response: Callable[[str, str, int, float], None] | None = None,
    ) -> None:
        super().__init__(
            verify=str(ca_bundle) if ca_bundle else True,
            timeouts=timeouts,
            policy=policy or RetryPolicy(max_total_wait=max_retry_wait),
            log=log,
            label=f"AIC tenant {host_of(tenant_url)}",
            session=session,
            sleep=sleep,
            rng=rng,
            on_response=on_response,
        )
        self.tenant_url = tenant_url
        self.ca_bundle = ca_bundle

    def send(self, method: str, url: str, *, path: str, headers: Mapping[str, str], data: Any = None,
             retry_connection: bool) -> requests.Response:
        """One request, retried within budget; a throttled answer past it raises ``PlatformThrottled``.

        ``path`` is the readable REST path errors name. Any other answer is returned, read whole.
        """

        def examine(response: requests.Response) -> tuple[bool, requests.Response]:
            response.content  # noqa: B018  read it now: a drop mid-body is retried like one before it
            return response.status_code in RETRY_STATUSES, response

        response = self.exchange(method, url, examine, retry_connection=retry_connection, data=data,
                                 headers=dict(headers))
        if response.status_code in RETRY_STATUSES:
            raise throttled(response, method=method, path=path, budget=self.policy.max_total_wait)
        return response

    def tls_error(self, url: str, exc: Exception) -> PlatformError:
        trust = f"the CA bundle {self.ca_bundle}" if self.ca_bundle else "the system CA store"
        return PlatformError(
            f"AIC tenant {host_of(url)}: TLS verification failed against {trust} ({short_reason(exc)})",
            code="TLS",
            path=urlsplit(url).path or "/",
            hint="Set spec.platform.caBundle to the PEM of the CA that signed the tenant's certificate "
                 "(a TLS-inspecting proxy's CA, or the one `idmctl emulator aic` prints), and check "
                 "spec.platform.tenantUrl",
        )

    def connection_error(self, url: str, exc: Exception) -> PlatformError:
        reason = short_reason(exc)
        host = host_of(url)
        lowered = reason.lower()
        if "resolve" in lowered or "not known" in lowered or "getaddrinfo" in str(exc):
            hint = (f"The name {urlsplit(url).hostname} does not resolve: check spec.platform.tenantUrl for "
                    "a typo (https://openam-<tenant>.forgeblocks.com), the DNS of this host and any HTTPS_PROXY")
        elif "refused" in lowered:
            hint = (f"Nothing listens at {host}: check spec.platform.tenantUrl (the port too); for the "
                    "emulator, start it with `idmctl emulator aic`")
        else:
            hint = "Check spec.platform.tenantUrl, the network and any HTTPS_PROXY setting"
        return PlatformError(f"AIC tenant {host}: cannot reach it ({reason})", code="NETWORK",
                             path=urlsplit(url).path or "/", hint=hint)


def error_body(response: requests.Response) -> dict[str, Any]:
    """The JSON object of an error answer (CREST, /environment or OAuth), or {} when there is none."""
    try:
        body = json.loads(response.text or "null")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def remote_text(text: str, secrets: Iterable[str]) -> str:
    """What the tenant said, fit to repeat: secrets redacted, one line, cut short."""
    return one_line(redact(text, secrets), MAX_REMOTE_MESSAGE)


def throttled(response: requests.Response, *, method: str, path: str, budget: float) -> PlatformThrottled:
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    asks = f" (the tenant asks to wait {retry_after:g} s)" if retry_after is not None else ""
    return PlatformThrottled(
        f"AIC {method.upper()} {path}: still {status} {phrase(status)} once the retry budget of {budget:g} s "
        f"was spent{asks}",
        status=status,
        retry_after=retry_after,
        code=str(status),
        path=path,
        hint="The tenant is throttling or unavailable: try again later, or raise "
             "spec.platform.maxRetryWaitSeconds",
    )


def _scope_for(path: str) -> str:
    if path.startswith("/environment/startup"):
        return "fr:idc:esv:* (or fr:idc:esv:restart)"
    if path.startswith("/environment"):
        return "fr:idc:esv:* (or fr:idc:esv:read and fr:idc:esv:update)"
    return "fr:idm:*"


def _hint(status: int, path: str, remote: str, account: str, transaction: str) -> str | None:
    lowered = remote.lower()
    if status == 400:
        if "already exists" in lowered and path.startswith("/environment/secrets"):
            return ("An ESV secret is create-only: a new value is a new version "
                    "(POST …/versions?_action=create), not a second create")
        if "changing the type" in lowered:
            return "An ESV's expressionType cannot change in place: delete the variable, then create it again"
        if "regular expression" in lowered and path.startswith("/environment"):
            return "ESV ids must match ^esv-[a-z0-9_-]{1,124}$"
        return "The tenant refused the request as sent: fix what it names (`idmctl render` shows what idmctl writes)"
    if status == 401:
        return (f"The tenant refused a freshly minted token of service account {account}: check in the AIC "
                "console (Tenant settings › Service accounts) that it is Active and still has its scopes")
    if status == 403:
        area = "/" + path.lstrip("/").split("/", 1)[0]
        return (f"Service account {account} lacks the scope for {area}: "
                f"grant it {_scope_for(path)} in the AIC console (Tenant settings › Service accounts) and "
                "list it in spec.platform.scopes")
    if status == 404:
        return "The object does not exist on the tenant: check its name, or apply it first (`idmctl apply`)"
    if status == 409:
        return ("The tenant reports a conflict; a reconciliation of a mapping the tenant does not know "
                "answers 409: apply the mapping first (`idmctl apply`)")
    if status == 412:
        return ("The object changed on the tenant since idmctl read it, or it already exists where a create "
                "was asked: run `idmctl plan` again to see it")
    if status >= 500:
        return f"The tenant failed: try again later; if it persists, give Ping support the transaction id {transaction}"
    return None


def platform_error(response: requests.Response, *, method: str, path: str, account: str,
                   secrets: Iterable[str] = ()) -> PlatformError:
    """The one mapping of a /openidm or /environment error answer to a ``PlatformError``.

    CREST bodies are ``{"code","reason","message"}``, /environment ones ``{"code","message"}``, OAuth
    ones ``{"error","error_description"}``; ``code`` is the reason or OAuth error, else the status phrase.
    """
    status = response.status_code
    body = error_body(response)
    code = str(body.get("reason") or body.get("error") or phrase(status))
    said = body.get("message") or body.get("error_description") or ""
    remote = remote_text(str(said), secrets)
    message = f"AIC {method.upper()} {path}: {status} {code}"
    if remote and remote != code:
        message += f": {remote}"
    transaction = response.headers.get("X-ForgeRock-TransactionId") or (
        response.request.headers.get("X-ForgeRock-TransactionId", "") if response.request is not None else "")
    kind = PlatformAuthError if status == 401 else PlatformError  # a 401 survives one fresh token only
    return kind(message, status=status, code=code, path=path,
                hint=_hint(status, path, remote, account, str(transaction)))
