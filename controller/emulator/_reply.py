"""What a route hands back to the HTTP layer: status, headers and a body, or an order to drop the socket.

A body may also be a ``stream`` of chunks, sent with ``Transfer-Encoding: chunked`` as Graph sends large
answers (``odata.streaming=true``); the server writes them as they are produced.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["JSON_TYPE", "ODATA_JSON_TYPE", "Reply"]

JSON_TYPE = "application/json; charset=utf-8"
ODATA_JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"


@dataclass
class Reply:
    """An HTTP answer; ``drop`` closes the connection without sending anything; ``stream`` replaces ``body``."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    stream: Iterable[bytes] | None = None

    @classmethod
    def json(cls, status: int, data: Any, *, content_type: str = JSON_TYPE,
             headers: dict[str, str] | None = None) -> Reply:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status, body, {"Content-Type": content_type, **(headers or {})})
