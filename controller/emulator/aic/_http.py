"""CREST and AM answer bodies, and the small request helpers every AIC route shares."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from controller.emulator._reply import Reply

__all__ = ["CrestError", "crest_reply", "json_body", "query_params"]


class CrestError(Exception):
    """A request answered with an error: CREST's ``{"code","reason","message"}`` (``/openidm``) or the
    ``/environment`` form ``{"code","message"}`` (``reason=False``)."""

    def __init__(self, status: int, message: str, *, reason: bool = True,
                 headers: dict[str, str] | None = None, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.headers = dict(headers or {})
        self.detail = detail

    def reply(self) -> Reply:
        return crest_reply(self.status, self.message, reason=self.reason, headers=self.headers,
                           detail=self.detail)


def crest_reply(status: int, message: str, *, reason: bool = True, headers: dict[str, str] | None = None,
                detail: dict[str, Any] | None = None) -> Reply:
    body: dict[str, Any] = {"code": status}
    if reason:
        body["reason"] = HTTPStatus(status).phrase
    body["message"] = message
    if detail:
        body["detail"] = detail
    return Reply.json(status, body, headers=headers)


def json_body(body: bytes, *, reason: bool = True) -> Any:
    """The JSON a request sent; 400 when it is not JSON."""
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except ValueError as exc:
        raise CrestError(400, f"The request could not be parsed: {exc}", reason=reason) from None


def query_params(raw: str) -> dict[str, str]:
    """The query string's parameters (the first value of each; blanks kept)."""
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
