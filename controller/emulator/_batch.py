"""JSON batching, as Graph answers ``POST /v1.0/$batch``: up to 20 requests in one round trip.

The body is ``{"requests": [{"id", "method", "url", "headers"?, "body"?, "dependsOn"?}]}``; ``url`` is
relative to the version (``/users/{id}?$select=…``). The batch is refused whole (400) when it is not
such an object, holds more than 20 requests, repeats an id (ids compare without case) or names an
unknown dependency. Otherwise it answers ``{"responses": [{"id", "status", "headers", "body"}]}`` (200,
or 424 as below) and each request is answered on its own, through the same routing (and injected faults) as if it had
come alone, with the batch's ``Authorization``: one request throttled is one response 429 with its
``Retry-After``, the others still answered, and the batch then answers 424 (Graph's throttling
guidance). A request whose dependency failed answers 424. Responses come in reverse order: Graph says
they may come in any.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from controller.emulator._reply import JSON_TYPE, Reply
from controller.errors import EmulatorHTTPError

__all__ = ["MAX_REQUESTS", "BatchRequest", "answer_batch", "parse_batch"]

MAX_REQUESTS = 20
_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})
# The answer headers a response in a batch carries (Graph's: what the client needs to act on it).
_KEPT_HEADERS = ("Content-Type", "Retry-After", "Location", "x-ms-throttle-scope", "x-ms-throttle-information")

Send = Callable[[str, str, str, dict[str, str], bytes], Reply]


@dataclass(frozen=True, slots=True)
class BatchRequest:
    id: str
    method: str
    path: str  # /v1.0/...
    query: str
    headers: dict[str, str]
    body: bytes
    depends_on: tuple[str, ...]


def _bad(message: str) -> EmulatorHTTPError:
    return EmulatorHTTPError(400, "BadRequest", message)


def parse_batch(raw: bytes) -> list[BatchRequest]:
    """The requests of a batch body, or the 400 Graph answers for the whole batch."""
    try:
        data = json.loads(raw or b"null")
    except ValueError as exc:
        raise _bad(f"Unable to deserialize batch request: {exc}.") from None
    items = data.get("requests") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise _bad("Invalid batch payload format: 'requests' must be a non-empty array.")
    if len(items) > MAX_REQUESTS:
        raise _bad("Number of requests inside batch exceeds the limit.")
    out: list[BatchRequest] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            raise _bad("Invalid batch payload format: each request must be an object.")
        rid, method, url = item.get("id"), item.get("method"), item.get("url")
        if not isinstance(rid, str) or not rid:
            raise _bad("Invalid batch payload format: each request needs a string 'id'.")
        if rid.lower() in seen:
            raise _bad(f"Batch request id '{rid}' is not unique.")
        if not isinstance(method, str) or method.upper() not in _METHODS:
            raise _bad(f"Invalid batch payload format: request '{rid}' has no valid 'method'.")
        if not isinstance(url, str) or not url or "://" in url:
            raise _bad(f"Invalid batch payload format: request '{rid}' needs a relative 'url'.")
        headers = item.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise _bad(f"Invalid batch payload format: request '{rid}' has headers that are not strings.")
        body = item.get("body")
        if body is not None and not any(k.lower() == "content-type" for k in headers):
            raise _bad(f"Invalid batch payload format: request '{rid}' has a body but no Content-Type header.")
        depends = item.get("dependsOn") or []
        if not isinstance(depends, list) or not all(isinstance(d, str) and d.lower() in seen for d in depends):
            raise _bad(f"Invalid batch payload format: request '{rid}' depends on a request not before it.")
        seen.add(rid.lower())
        path, _, query = url.partition("?")
        out.append(BatchRequest(rid, method.upper(), "/v1.0/" + path.lstrip("/"), query, dict(headers),
                                b"" if body is None else json.dumps(body).encode(), tuple(d.lower() for d in depends)))
    return out


def _response(rid: str, reply: Reply) -> dict[str, Any]:
    if reply.drop:  # a connection Graph's front end lost to its back end: the gateway's answer
        return {"id": rid, "status": 504, "headers": {"Content-Type": JSON_TYPE},
                "body": {"error": {"code": "UnknownError", "message": "Gateway timeout."}}}
    raw = b"".join(reply.stream) if reply.stream is not None else reply.body
    headers = {k: v for k in _KEPT_HEADERS if (v := reply.headers.get(k)) is not None}
    out: dict[str, Any] = {"id": rid, "status": reply.status, "headers": headers}
    if raw:
        try:
            out["body"] = json.loads(raw)
        except ValueError:  # Graph hands a body that is not JSON on base64-encoded
            out["body"] = base64.b64encode(raw).decode()
    return out


def answer_batch(requests: list[BatchRequest], outer: Mapping[str, str], send: Send) -> Reply:
    """Answer each request through ``send`` (the emulator's routing) and gather the answers."""
    shared = {k: v for k, v in outer.items() if k.lower() in ("authorization", "client-request-id")}
    failed: set[str] = set()
    responses = []
    for req in requests:
        if any(d in failed for d in req.depends_on):
            failed.add(req.id.lower())
            responses.append({"id": req.id, "status": 424, "headers": {"Content-Type": JSON_TYPE},
                              "body": {"error": {"code": "FailedDependency",
                                                 "message": "A request this one depends on failed."}}})
            continue
        if unquote(req.path).rstrip("/").lower() == "/v1.0/$batch":
            reply = Reply.json(400, {"error": {"code": "BadRequest", "message": "A batch cannot hold a batch."}})
        else:
            reply = send(req.method, req.path, req.query, {**shared, **req.headers}, req.body)
        response = _response(req.id, reply)
        if response["status"] >= 400:
            failed.add(req.id.lower())
        responses.append(response)
    # Graph's throttling guidance: a batch with a throttled request in it "fails with a status code of
    # 424", its responses saying which; and responses "might appear in a different order" than asked
    # (here always reversed, so that a client matching them by position fails against the emulator too).
    status = 424 if any(r["status"] == 429 for r in responses) else 200
    return Reply.json(status, {"responses": responses[::-1]})
