"""The HTTPS front of the emulator: a threaded stdlib server, TLS per connection, routing, the admin API.

TLS handshakes run in the connection's own thread, so one slow client cannot stall ``accept``.
Connections are HTTP/1.1 keep-alive (every answer has a Content-Length) and are tracked so that
``stop()`` ends them instead of waiting for idle clients.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from controller.emulator._reply import Reply

__all__ = ["EmulatorHTTPServer", "Router"]

Router = Callable[[str, str, str, dict[str, str], bytes], Reply]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "idmctl-emulator"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections end on their own
    server: EmulatorHTTPServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        headers = {k: v for k, v in self.headers.items()}
        # HTTP header names are case-insensitive; routes look them up in their canonical spelling.
        lowered = {k.lower(): v for k, v in headers.items()}
        for name in ("Authorization", "ConsistencyLevel", "Prefer", "client-request-id", "Content-Type",
                     "X-Emulator-Token"):
            if name.lower() in lowered:
                headers[name] = lowered[name.lower()]
        try:
            reply = self.server.router(self.command, parts.path, parts.query, headers, body)
        except Exception as exc:  # a bug in a route must not kill the connection silently
            reply = Reply.json(500, {"error": {"code": "InternalServerError",
                                               "message": f"emulator bug: {type(exc).__name__}: {exc}"}})
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.stream is not None:
            self._send_chunked(reply.stream)
            return
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.body and self.command != "HEAD":
            self.wfile.write(reply.body)

    def _send_chunked(self, chunks: Iterable[bytes]) -> None:
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in chunks:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except (ConnectionError, ssl.SSLError, OSError):
            self.close_connection = True  # the client stopped reading (a capped read): that is its right

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.log is not None:
            self.server.log(format % args)


class EmulatorHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` speaking TLS with ``context``, dispatching every request to ``router``."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], router: Router, context: ssl.SSLContext,
                 log: Callable[[str], None] | None = None) -> None:
        super().__init__(address, _Handler)
        self.router = router
        self.context = context
        self.log = log
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with self._conn_lock:
            self._connections.add(tls)
        try:
            _Handler(tls, client_address, self)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass
        finally:
            with self._conn_lock:
                self._connections.discard(tls)
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # client hang-ups are routine for a test server

    def close_connections(self) -> None:
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def admin_body(body: bytes) -> dict[str, Any]:
    """The JSON object an admin request sent (empty when there is no body)."""
    data = json.loads(body or b"{}")
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def query_flag(raw_query: str, name: str) -> bool:
    values = parse_qs(raw_query).get(name, [""])
    return values[0].lower() in ("1", "true", "yes")
