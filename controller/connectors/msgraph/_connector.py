"""The Microsoft Graph connector: reads users (paged, filtered, by id) and their delta rounds.

Every Graph call goes through one method that adds the token, follows only links on the configured
Graph host, and maps error answers to typed errors; callers see lists of plain dicts. What Graph
sends is checked before anyone uses it: a page is a JSON object whose ``value`` is a list of objects
with an ``id``, of bounded size (``ReadLimits``), and a listing whose ``@odata.nextLink`` comes back to
a page already read is stopped. Anything else is a ``GraphAnswerInvalid`` naming the page.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import requests
from requests.utils import requote_uri

from controller.config.models import ConnectorResource
from controller.connectors.msgraph._errors import READ_ROLES, batch_item_error, graph_error, item_header
from controller.connectors.msgraph._partitions import (
    GatedSession,
    Partition,
    ThrottleGate,
    read_partitions,
    upn_partitions,
)
from controller.connectors.msgraph._report import ConnectionReport, ReadOutcome
from controller.connectors.msgraph._settings import GraphSettings, origin
from controller.connectors.msgraph._token import TokenProvider, token_claims
from controller.connectors.msgraph._transport import (
    NOT_JSON,
    RETRY_STATUSES,
    RetryPolicy,
    Transport,
    parse_retry_after,
)
from controller.errors import ConnectorError, GraphAnswerInvalid, GraphError, GraphThrottled

__all__ = ["BATCH_REQUESTS", "MAX_PAGE_BYTES", "MAX_VALUE_CHARS", "PAGE_ITEMS_FACTOR", "DeltaPage", "GraphConnector",
           "ReadLimits"]

# -- how much one answer may hold -----------------------------------------------------------------
# A user object stays under ~8 KiB even with a wide $select (proxyAddresses, extension attributes),
# so a page of 999 is a few MiB. 32 MiB is four times the worst real page and bounds what a page
# can cost: the body is read streamed and refused at the cap, before it is parsed (parsed JSON takes
# roughly six times its bytes, so about 200 MiB at most instead of whatever a server sends).
MAX_PAGE_BYTES = 32 * 1024 * 1024
# Graph sends at most $top users a page (and delta pages at most 999). A page with more than twice
# that comes from a server or proxy that ignores $top: refused rather than held.
PAGE_ITEMS_FACTOR = 2
# The longest user strings Graph documents are a few KiB (aboutMe is not served on lists; extension
# attributes hold 256 characters). One value over 1 Mi characters is not an attribute: refused
# before it reaches the store. Only pages larger than this can hold such a value, so smaller ones
# (nearly all) are not walked.
MAX_VALUE_CHARS = 1024 * 1024
_MAX_TOP = 999
DELTA_PREFER = f"odata.maxpagesize={_MAX_TOP}"
BATCH_REQUESTS = 20  # requests one JSON batch may hold (Graph's limit: more and the whole batch is refused)
# The error statuses a `$batch` answers with its responses in the body (Graph's throttling guidance: a
# batch with a throttled request in it "fails with a status code of 424"; each response says which).
_BATCH_ANSWER_STATUSES = frozenset({424})


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """The bounds on one Graph answer (see the constants above); tests lower them."""

    max_page_bytes: int = MAX_PAGE_BYTES
    page_items_factor: int = PAGE_ITEMS_FACTOR
    max_value_chars: int = MAX_VALUE_CHARS

# Graph's delta query accepts $filter only on id (`id eq '…' or id eq '…'`, at most 50).
_ID_ONLY_FILTER = re.compile(r"^\s*(\(?\s*id\s+(eq\s+'[^']*'|in\s*\([^)]*\))\s*\)?\s*(\s+or\s+|$))+$", re.I)


@dataclass(frozen=True, slots=True)
class DeltaPage:
    """One page of a delta round: changed users, removed ``(id, reason)``, the deltaLink on the last page."""

    users: list[dict[str, Any]]
    removed: list[tuple[str, str]]
    delta_link: str | None = None


def _select(select: Iterable[str]) -> str:
    seen: dict[str, None] = {"id": None}
    for attr in select:
        seen.setdefault(attr, None)
    return ",".join(seen)


def _query(params: dict[str, Any]) -> str:
    # Graph's own links keep `$` and `,` literal; quote the rest (`#` in guest UPNs must be %23).
    return urlencode({k: v for k, v in params.items() if v is not None}, quote_via=quote, safe="$,()'")


_OPAQUE_TOKEN = re.compile(r"(\$(?:skip|delta)token=)([^&]+)", re.I)


def _shown(url: str) -> str:
    """``url`` as messages show it: paging and delta tokens are opaque state, not for logs."""
    return _OPAQUE_TOKEN.sub(lambda m: m.group(1) + (m.group(2) if m.group(2) == "latest" else "…"), url)


def _kind(value: Any) -> str:
    """How a JSON value reads in a message: 'an object', 'a list', 'a string "abc…"'."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"a string {value[:40]!r}"
    if value is None:
        return "null"
    return f"{type(value).__name__} {value!r}"


def _long_value(value: Any, limit: int, path: str) -> tuple[str, int] | None:
    """The path and length of the first string in ``value`` longer than ``limit``, if any."""
    if isinstance(value, str):
        return (path, len(value)) if len(value) > limit else None
    if isinstance(value, dict):
        items: Iterable[tuple[str, Any]] = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for sub_path, sub in items:
        found = _long_value(sub, limit, sub_path)
        if found is not None:
            return found
    return None


class _Listing:
    """The pages of one listing (users, a delta round): their numbers, and the links already read."""

    def __init__(self, first_url: str) -> None:
        self.url: str | None = first_url
        self.page = 0
        self._seen: dict[str, int] = {}

    def __iter__(self) -> Iterator[tuple[int, str]]:
        while self.url is not None:
            url, self.url = self.url, None
            self.page += 1
            key = requote_uri(url)
            if key in self._seen:
                raise _LinkLoop(self._seen[key], self.page, url)
            self._seen[key] = self.page
            yield self.page, url


class _LinkLoop(Exception):
    def __init__(self, first: int, page: int, url: str) -> None:
        super().__init__(url)
        self.first, self.page, self.url = first, page, url


class GraphConnector:
    """One tenant's users through Microsoft Graph v1.0, authenticated as an application."""

    def __init__(
        self,
        settings: GraphSettings,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        policy: RetryPolicy | None = None,
        limits: ReadLimits | None = None,
    ) -> None:
        self.settings = settings
        self.limits = limits or ReadLimits()
        self.read_concurrency = settings.read_concurrency
        if session is None and self.read_concurrency > 1:
            # Partitions are read at once through one session; they share one throttling back-off.
            session = GatedSession(ThrottleGate(sleep), self.read_concurrency)
        self._token_lock = threading.Lock()
        self._transport = Transport(settings, session=session, sleep=sleep, policy=policy)
        self._tokens = TokenProvider(settings, self._transport)
        # Once Graph has answered with JSON, a body that is not JSON is a passing fault (retried),
        # not a wrong spec.graphUrl.
        self._graph_answered = False

    @classmethod
    def from_resource(
        cls, connector: ConnectorResource, secret: str, *, base_dir: Path | None = None,
        session: requests.Session | None = None,
    ) -> GraphConnector:
        """A connector for a `Connector` resource; ``secret`` is the client secret's value."""
        return cls(GraphSettings.from_resource(connector, secret, base_dir=base_dir), session=session)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> GraphConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GraphConnector({self.settings.name!r}, {self.settings.graph_url})"

    # -- tokens ---------------------------------------------------------------------------------

    def token(self) -> str:
        """A valid access token (cached by msal, refreshed when near expiry)."""
        with self._token_lock:  # partition readers share it: one of them refreshes it
            return self._tokens.token()

    def token_claims(self) -> dict[str, Any]:
        """The current token's payload (unverified; for tenant and roles diagnostics)."""
        return token_claims(self.token())

    # -- HTTP -----------------------------------------------------------------------------------

    def _check_link(self, url: str) -> None:
        if origin(url) != origin(self.settings.graph_url):
            scheme, host, port = origin(url)
            raise ConnectorError(
                f"connector {self.settings.name!r}: Graph returned a link to {scheme}://{host}:{port}, "
                f"not the configured graphUrl {self.settings.graph_url}; refusing to send the token there",
                code="FOREIGN_LINK",
                hint="Check spec.graphUrl: it must be the host Graph's links point to",
            )

    def _fetch(self, url: str, *, where: str, headers: Mapping[str, str] | None = None,
               payload: bytes | None = None) -> tuple[requests.Response, dict[str, Any]]:
        """One Graph answer and its JSON object: the token added, errors mapped, the body checked.

        ``where`` names the request in messages: ``GET <url>`` or ``page 3 of GET <url>``; ``headers``
        are sent too (``Prefer``, ``ConsistencyLevel``); with a ``payload`` it is a POST of that JSON
        which only reads (a ``$batch`` of GETs), retried as a GET is but for throttling, which the caller
        retries; its answer is returned when it holds ``responses`` whatever its status (424 when a
        request in it was throttled), else mapped as any error.
        """
        self._check_link(url)
        retried_auth = False
        while True:
            hdrs = {"Authorization": f"Bearer {self.token()}", "Accept": "application/json", **(headers or {})}
            if payload is None:
                answer = self._transport.get_json(url, headers=hdrs, max_bytes=self.limits.max_page_bytes,
                                                  retry_not_json=self._graph_answered, where=where)
            else:
                answer = self._transport.post_json(url, payload, headers=hdrs, max_bytes=self.limits.max_page_bytes,
                                                   retry_not_json=self._graph_answered, where=where,
                                                   answer_statuses=_BATCH_ANSWER_STATUSES)
            response = answer.response
            if response.status_code == 401 and not retried_auth:
                # A token can be revoked or rotated before its stated expiry: get a fresh one once.
                retried_auth = True
                self._tokens.invalidate()
                continue
            batch_answer = payload is not None and isinstance(answer.data, dict) and "responses" in answer.data
            if response.status_code >= 400 and not batch_answer:
                raise graph_error(response, self.settings)
            if answer.data is NOT_JSON:
                raise self._not_json(response, where)
            body = answer.data
            if not isinstance(body, dict):
                raise self._invalid(response, where, f"the answer is {_kind(body)}, not a JSON object")
            self._graph_answered = True
            if answer.size > self.limits.max_value_chars:
                self._check_values(response, where, body)
            return response, body

    def _invalid(self, response: requests.Response, where: str, what: str, *, code: str = "UNEXPECTED_SHAPE",
                 hint: str | None = None) -> GraphAnswerInvalid:
        return GraphAnswerInvalid(
            f"connector {self.settings.name!r}: {where}: {what}",
            status=response.status_code,
            code=code,
            request_id=response.headers.get("request-id") or response.headers.get("client-request-id"),
            hint=hint or "Microsoft Graph does not answer like this: check spec.graphUrl (the Graph root, "
                         "without /v1.0) and any proxy in between; if it persists against Microsoft Graph, "
                         "report the request-id to Microsoft",
        )

    def _not_json(self, response: requests.Response, where: str) -> GraphAnswerInvalid:
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
        what = f"Graph answered {response.status_code} with a body that is not JSON ({content_type})"
        if self._graph_answered:
            # Earlier answers were Graph's: the URL is right, this one broke on the way.
            return self._invalid(response, where, f"{what}, also on every retry", code="NOT_JSON",
                                 hint="Graph answered fine before this: a proxy, gateway or Graph itself "
                                      "failed for a while; run again later")
        return self._invalid(response, where, what, code="NOT_JSON",
                             hint="Check spec.graphUrl: it must be the Microsoft Graph root, without /v1.0")

    def _check_values(self, response: requests.Response, where: str, body: dict[str, Any]) -> None:
        limit = self.limits.max_value_chars
        found = _long_value(body, limit, "")
        if found is None:
            return
        path, length = found
        owner = ""
        match = re.match(r"value\[(\d+)\]\.?(.*)", path)
        users = body.get("value")
        if match and isinstance(users, list):
            user = users[int(match.group(1))]
            owner = f"user {user.get('id')!r} " if isinstance(user, dict) else ""
            path = match.group(2) or path
        raise self._invalid(response, where, f"{owner}{path} is {length:,} characters long, more than the "
                            f"{limit:,} one attribute may hold; refusing the page", code="VALUE_TOO_LARGE")

    def _page(self, url: str, page: int, *, max_items: int,
              headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        """A listing page, checked: its ``value`` a list of at most ``max_items`` objects, each with a
        string ``id``, and its links strings."""
        where = f"page {page} of GET {_shown(url)}"
        response, body = self._fetch(url, where=where, headers=headers)
        if "value" not in body:
            raise self._invalid(response, where, "the answer has no 'value' list of users")
        users = body["value"]
        if not isinstance(users, list):
            raise self._invalid(response, where, f"'value' is {_kind(users)}, not a list")
        if len(users) > max_items:
            raise self._invalid(response, where, f"the page holds {len(users):,} users, more than the "
                                f"{max_items:,} it may ({self.limits.page_items_factor}x the page size "
                                "asked for); refusing it", code="PAGE_TOO_LARGE")
        for index, user in enumerate(users):
            if not isinstance(user, dict):
                raise self._invalid(response, where, f"item {index} of 'value' is {_kind(user)}, not an object")
            uid = user.get("id")
            if not isinstance(uid, str) or not uid:
                what = "no 'id'" if uid is None else f"an 'id' that is {_kind(uid)}"
                raise self._invalid(response, where, f"item {index} of 'value' has {what}")
        for link in ("@odata.nextLink", "@odata.deltaLink"):
            if link in body and not isinstance(body[link], str):
                raise self._invalid(response, where, f"'{link}' is {_kind(body[link])}, not a URL")
        return body

    def _pages(self, first_url: str, *, max_items: int,
               headers: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Each page of a listing from ``first_url`` on, checked, until a page has no nextLink.

        A nextLink back to a page already read would make the listing endless (Graph never does
        this; a broken gateway did, 1,679 GETs in 40 s with the lock held): it is refused.
        """
        listing = _Listing(first_url)
        try:
            for page, url in listing:
                body = self._page(url, page, max_items=max_items, headers=headers)
                yield body
                listing.url = body.get("@odata.nextLink")
        except _LinkLoop as loop:
            raise GraphAnswerInvalid(
                f"connector {self.settings.name!r}: page {loop.page - 1} of GET {_shown(first_url)} has an "
                f"@odata.nextLink back to page {loop.first} ({_shown(loop.url)}); following it would never "
                "end, so the read stops here",
                status=200,
                code="NEXT_LINK_LOOP",
                hint="Graph's nextLinks always move on: a proxy or gateway in between is replaying a page. "
                     "Check spec.graphUrl and what sits between this host and Graph, then run again",
            ) from None

    # -- users ----------------------------------------------------------------------------------

    def users_url(self, select: Iterable[str], pushdown: str | None = None, *, top: int | None = None) -> str:
        params = {"$select": _select(select), "$top": top or self.settings.page_size, "$filter": pushdown}
        return f"{self.settings.api_base}/users?{_query(params)}"

    @property
    def partitioned(self) -> bool:
        """Whether a full read is partitioned (``readConcurrency`` above 1): then it is not a snapshot,
        and a linked source it did not list is only missing once read by id (see ``_partitions``)."""
        return self.read_concurrency > 1

    def iter_users(
        self, select: Iterable[str], pushdown: str | None = None, *, page_size: int | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of users with ``select`` + ``id``, filtered by Graph with ``pushdown`` when given.

        With ``readConcurrency`` above 1 (and no ``page_size``), the read is partitioned: every user
        once, in no particular order, ``readConcurrency`` partitions at a time."""
        if page_size is None and self.partitioned:
            select = list(select)
            yield from read_partitions(upn_partitions(pushdown),
                                       lambda part: self._partition_pages(select, part), self.read_concurrency)
            return
        top = page_size or self.settings.page_size
        for body in self._pages(self.users_url(select, pushdown, top=top),
                                max_items=top * self.limits.page_items_factor):
            users: list[dict[str, Any]] = body["value"]
            if users:
                yield users

    def _partition_pages(self, select: Iterable[str], part: Partition) -> Iterator[list[dict[str, Any]]]:
        top = self.settings.page_size
        url = self.users_url(select, part.filter, top=top)
        headers = None
        if part.advanced:  # `not` is an advanced query: ConsistencyLevel eventual and $count=true
            url += "&$count=true"
            headers = {"ConsistencyLevel": "eventual"}
        for body in self._pages(url, max_items=top * self.limits.page_items_factor, headers=headers):
            users: list[dict[str, Any]] = body["value"]
            if users:
                yield users

    def get_user(self, user_id: str, select: Iterable[str]) -> dict[str, Any]:
        """One user by id or userPrincipalName; raises ``GraphNotFound`` when it does not exist."""
        query = _query({"$select": _select(select)})
        url = f"{self.settings.api_base}/users/{quote(user_id, safe='@')}?{query}"
        where = f"GET {_shown(url)}"
        response, user = self._fetch(url, where=where)
        uid = user.get("id")
        if not isinstance(uid, str) or not uid:
            raise self._invalid(response, where, "the user has no 'id'" if uid is None
                                else f"the user's 'id' is {_kind(uid)}")
        return user

    def get_users(self, user_ids: Iterable[str], select: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The users of ``user_ids`` that exist, by the id asked for; an id Graph answers 404 is left out.

        Read by JSON batching: ``POST /v1.0/$batch`` with up to 20 ``GET /users/{id}`` each (Graph's
        limit), ``readConcurrency`` batches at a time, so confirming 1,000 sources takes 50 round trips,
        not 1,000. Graph throttles a batch whole (429/503/504) or request by request (each its own
        429 and ``Retry-After``, the batch then answered 424): the throttled ones are sent again after
        the longest wait asked, within one retry budget per batch, and hold back the other readers as a
        throttled page does. Any other failure raises as ``get_user``'s would, and stops the batches
        not yet sent.
        """
        ids = list(dict.fromkeys(user_ids))
        query = _query({"$select": _select(select)})
        chunks = [ids[i:i + BATCH_REQUESTS] for i in range(0, len(ids), BATCH_REQUESTS)]
        found: dict[str, dict[str, Any]] = {}
        stop = threading.Event()
        if len(chunks) > 1 and self.read_concurrency > 1:
            with ThreadPoolExecutor(min(self.read_concurrency, len(chunks)), "idmctl-batch") as pool:
                futures = [pool.submit(self._batch_get, chunk, query, stop) for chunk in chunks]
                try:
                    for future in as_completed(futures):
                        found.update(future.result())
                except BaseException:
                    stop.set()  # the batches running stop before their next request or wait
                    for future in futures:
                        future.cancel()
                    raise
        else:
            for chunk in chunks:
                found.update(self._batch_get(chunk, query, stop))
        return found

    def _batch_get(self, ids: list[str], query: str, stop: threading.Event) -> dict[str, dict[str, Any]]:
        url = f"{self.settings.api_base}/$batch"
        where = f"POST {_shown(url)}"
        pending = {str(n): uid for n, uid in enumerate(ids, 1)}
        found: dict[str, dict[str, Any]] = {}
        attempt, waited = 0, 0.0
        last: GraphError | None = None
        while pending and not stop.is_set():
            payload = orjson.dumps({"requests": [
                {"id": n, "method": "GET", "url": f"/users/{quote(uid, safe='@')}?{query}"}
                for n, uid in pending.items()]})
            try:
                response, body = self._fetch(url, where=where, payload=payload)
            except GraphThrottled as exc:  # the batch throttled whole: every read in it waits
                throttled, longest, last = pending, exc.retry_after, exc
            else:
                throttled, longest, last = self._batch_answers(response, body, pending, found, where)
            if not throttled:
                break
            pending = throttled
            if longest is not None and isinstance(self._transport.session, GatedSession):
                self._transport.session.gate.hold(longest)  # throttling is per app and tenant: all readers wait
            delay = None if stop.is_set() else self._transport.wait_to_retry(
                attempt, longest, waited, f"{len(pending)} of {len(ids)} reads throttled ({where})")
            if delay is None:
                if stop.is_set():
                    break
                assert last is not None  # set with every throttled read
                raise last
            waited += delay
            attempt += 1
        return found

    def _batch_answers(self, response: requests.Response, body: dict[str, Any], pending: dict[str, str],
                       found: dict[str, dict[str, Any]], where: str
                       ) -> tuple[dict[str, str], float | None, GraphError | None]:
        """Read one batch's responses into ``found``: the reads throttled (by request id), the longest
        ``Retry-After`` they ask, and the error to raise if they are not retried."""
        answers = body.get("responses")
        if not isinstance(answers, list):
            raise self._invalid(response, where, "the answer has no 'responses' list")
        # Graph answers in any order; an id that is not a string matches no request (and is no key).
        by_id = {a["id"]: a for a in answers if isinstance(a, dict) and isinstance(a.get("id"), str)}
        throttled: dict[str, str] = {}
        longest: float | None = None
        last: GraphError | None = None
        for n, uid in pending.items():
            item = by_id.get(n)
            if item is None:
                raise self._invalid(response, where, f"no response has the id {n!r} of GET /users/{uid}")
            status = item.get("status")
            if status == 200:
                user = item.get("body")
                if not isinstance(user, dict) or not isinstance(user.get("id"), str) or not user["id"]:
                    raise self._invalid(response, where, f"the response to GET /users/{uid} has no user 'id'")
                found[uid] = user
            elif status in RETRY_STATUSES:
                throttled[n] = uid
                after = parse_retry_after(item_header(item, "Retry-After"))
                if after is not None:
                    longest = after if longest is None else max(longest, after)
                last = batch_item_error(item, f"GET /users/{uid}", self.settings)
            elif status != 404:  # 404: the user does not exist, which is what was asked
                raise batch_item_error(item, f"GET /users/{uid}", self.settings)
        return throttled, longest, last

    # -- delta ----------------------------------------------------------------------------------

    def delta_start_link(self, select: Iterable[str], pushdown: str | None = None) -> str:
        """The URL of an initial delta round (every current user, then a deltaLink).

        Graph's delta accepts ``$filter`` only on id, so any other ``pushdown`` is dropped here and
        the caller applies its filter locally to the pages.
        """
        params = {"$select": _select(select)}
        if pushdown and _ID_ONLY_FILTER.match(pushdown):
            params["$filter"] = pushdown
        return f"{self.settings.api_base}/users/delta?{_query(params)}"

    def latest_delta_link(self, select: Iterable[str], pushdown: str | None = None) -> str:
        """A deltaLink from now on (``$deltatoken=latest``): no users are read."""
        first = self.delta_start_link(select, pushdown) + "&$deltatoken=latest"
        for body in self._pages(first, max_items=_MAX_TOP * self.limits.page_items_factor):
            link = body.get("@odata.deltaLink")
            if link:
                self._check_link(link)
                return str(link)
        raise GraphError(
            f"connector {self.settings.name!r}: Graph ended a $deltatoken=latest round without a deltaLink",
            status=200,
        )

    def read_delta(self, delta_link: str) -> Iterator[DeltaPage]:
        """Follow a delta round from ``delta_link`` (or a start link); raises ``DeltaExpired``."""
        # Delta pages hold 100 users unless asked for more; Graph may send fewer than asked for.
        for body in self._pages(delta_link, max_items=_MAX_TOP * self.limits.page_items_factor,
                                headers={"Prefer": DELTA_PREFER}):
            users: list[dict[str, Any]] = []
            removed: list[tuple[str, str]] = []
            for item in body["value"]:
                gone = item.get("@removed")
                if gone is not None:
                    reason = gone.get("reason", "deleted") if isinstance(gone, Mapping) else "deleted"
                    removed.append((item["id"], str(reason)))
                else:
                    users.append(item)
            # Graph keeps paging even when `value` is empty; a page never carries both links.
            url = body.get("@odata.nextLink")
            link = None if url else body.get("@odata.deltaLink")
            if link:
                self._check_link(link)
            yield DeltaPage(users=users, removed=removed, delta_link=link)
            if not url and not link:
                raise GraphError(
                    f"connector {self.settings.name!r}: a delta page had neither nextLink nor deltaLink",
                    status=200,
                    hint="The round is incomplete: run a full reconciliation",
                )

    # -- diagnostics ----------------------------------------------------------------------------

    def check(self) -> ConnectionReport:
        """Token, tenant, granted roles against the roles needed, and one read; never raises."""
        s = self.settings
        base: dict[str, Any] = {"connector": s.name, "authority": s.authority, "graph_url": s.graph_url,
                "client_id": s.client_id, "scope": s.scope}
        try:
            claims = self.token_claims()
        except ConnectorError as exc:
            return ConnectionReport(**base, token_ok=False, error=exc)
        roles = claims.get("roles")
        granted = tuple(sorted(roles)) if isinstance(roles, list) else ()
        try:
            next(iter(self.iter_users(["id"], page_size=1)), [])
            read = ReadOutcome(ok=True, request=f"GET {s.api_base}/users?$top=1&$select=id")
        except ConnectorError as exc:
            read = ReadOutcome(ok=False, request=f"GET {s.api_base}/users?$top=1&$select=id", error=exc)
        return ConnectionReport(
            **base,
            token_ok=True,
            tenant_id=claims.get("tid"),
            app_name=claims.get("app_displayname"),
            granted_roles=granted,
            needed_roles=READ_ROLES,
            read=read,
        )
