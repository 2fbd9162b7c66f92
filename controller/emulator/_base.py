"""What every emulator here shares: HTTPS on 127.0.0.1 in a thread, a state directory and the admin token.

The Graph emulator and the AIC emulator each add their routes; both check the admin API's token the
same way: every ``/_emulator/...`` request carries ``X-Emulator-Token: <contents of admin_token>``.
"""

from __future__ import annotations

import secrets
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from controller.emulator._pki import KeyMaterial, write_private
from controller.emulator._reply import Reply
from controller.emulator._server import EmulatorHTTPServer, Router
from controller.errors import EmulatorError

__all__ = ["ADMIN_TOKEN_HEADER", "LocalService", "load_or_make"]

ADMIN_TOKEN_HEADER = "X-Emulator-Token"


def load_or_make(path: Path, make: Callable[[], str]) -> str:
    """The value kept in ``path``, or a new one from ``make`` written there (0600)."""
    if path.exists():
        value = path.read_text("utf-8").strip()
        if value:
            return value
    value = make()
    write_private(path, (value + "\n").encode())
    return value


def _admin_refusal(status: int, code: str, message: str) -> Reply:
    return Reply.json(status, {"error": {"code": code, "message": message}},
                      headers={"WWW-Authenticate": f'{ADMIN_TOKEN_HEADER} realm="idmctl emulator admin"'})


class LocalService:
    """An HTTPS server on 127.0.0.1 with a state directory; subclasses implement ``start`` with ``_listen``."""

    _what = "the emulator"

    def __init__(self, state_dir: Path, *, port: int = 0, log: Callable[[str], None] | None = None) -> None:
        self.state_dir = Path(state_dir)
        self._port = port
        self._log = log
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._admin_token: str | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def _listen(self, keys: KeyMaterial, router: Router) -> None:
        """Bind 127.0.0.1:<port> with TLS from ``keys``; ``_serve`` then answers in a thread."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(keys.server_cert, keys.server_key)
        try:
            self._server = EmulatorHTTPServer(("127.0.0.1", self._port), router, context, log=self._log)
        except OSError as exc:
            raise EmulatorError(f"cannot listen on 127.0.0.1:{self._port}: {exc.strerror}",
                                hint="Pick another --port, or 0 for any free port") from None

    def _serve(self, name: str, poll_interval: float = 0.2) -> None:
        assert self._server is not None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": poll_interval},
                                        name=f"{name}-{self.port}", daemon=True)
        self._thread.start()

    def _stopped(self) -> None:
        """Called once the server has stopped (subclasses close what they opened)."""

    def stop(self) -> None:
        """Stop serving and end open connections (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        self._stopped()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise EmulatorError(f"{self._what} is not running", hint="Call start() or use it as a context manager")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_path(self) -> Path:
        return self.state_dir / "ca.pem"

    @property
    def admin_token_path(self) -> Path:
        return self.state_dir / "admin_token"

    @property
    def admin_token(self) -> str:
        """The token every ``/_emulator/`` request must send in ``X-Emulator-Token``."""
        if self._admin_token is None:
            self._admin_token = load_or_make(self.admin_token_path, lambda: secrets.token_urlsafe(32))
        return self._admin_token

    def admin_headers(self) -> dict[str, str]:
        """The header an admin API request needs (for clients in this process)."""
        return {ADMIN_TOKEN_HEADER: self.admin_token}

    def _admin_refused(self, sent: str | None) -> Reply | None:
        """The 401/403 for an admin request whose ``X-Emulator-Token`` is ``sent``; None when it is right."""
        if not sent:
            return _admin_refusal(401, "AdminTokenRequired",
                                  f"the emulator's admin API needs its token: send the header "
                                  f"{ADMIN_TOKEN_HEADER} with the contents of {self.admin_token_path}")
        if not secrets.compare_digest(sent.strip().encode(), self.admin_token.encode()):
            return _admin_refusal(403, "AdminTokenInvalid",
                                  f"the {ADMIN_TOKEN_HEADER} header does not hold this emulator's admin token: "
                                  f"send the contents of {self.admin_token_path} (it changes with the state "
                                  "directory)")
        return None
