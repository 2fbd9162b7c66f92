"""``Control``: a client of a running emulator's admin API (``/_emulator/...``), for `idmctl emulator ...`.

It finds the emulator through the ``emulator.json`` that ``serve`` writes in the state directory (its
URL), trusts the CA in that directory and sends the admin token from ``admin_token`` in the
``X-Emulator-Token`` header. Plain ``urllib`` over HTTPS: the emulator shares no code with the product.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from controller.emulator._emulator import ADMIN_TOKEN_HEADER
from controller.errors import EmulatorError

__all__ = ["Control"]


class Control:
    """The admin API of the emulator whose state directory is ``state_dir``."""

    def __init__(self, state_dir: Path, *, timeout: float = 30.0) -> None:
        self.state_dir = state_dir
        self.timeout = timeout

    @property
    def admin_token_path(self) -> Path:
        return self.state_dir / "admin_token"

    @property
    def info_path(self) -> Path:
        return self.state_dir / "emulator.json"

    def _running(self) -> dict[str, Any]:
        try:
            info = json.loads(self.info_path.read_text("utf-8"))
        except FileNotFoundError:
            raise EmulatorError(
                f"no emulator is running with state directory {self.state_dir} ({self.info_path} does not exist)",
                hint=f"Start one with `idmctl emulator --state-dir {self.state_dir}` (in another terminal), "
                     "or pass the --state-dir it was started with",
            ) from None
        except (OSError, ValueError) as exc:
            raise EmulatorError(f"cannot read {self.info_path}: {exc}",
                                hint="Restart the emulator; it rewrites the file on start") from None
        if not isinstance(info, dict) or not isinstance(info.get("base_url"), str):
            raise EmulatorError(f"{self.info_path} does not name the emulator's URL",
                                hint="Restart the emulator; it rewrites the file on start")
        return info

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Send ``method /_emulator/path`` with the admin token; the JSON answer (None for 204)."""
        info = self._running()
        try:
            token = self.admin_token_path.read_text("utf-8").strip()
        except OSError as exc:
            raise EmulatorError(f"cannot read the emulator's admin token {self.admin_token_path}: {exc}",
                                hint="Run this as the user that started the emulator (the file is mode 0600)") from None
        url = f"{info['base_url']}/_emulator/{path}"
        data = json.dumps(body).encode() if body is not None else None
        headers = {ADMIN_TOKEN_HEADER: token, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        context = ssl.create_default_context(cafile=str(self.state_dir / "ca.pem"))
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=context) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise EmulatorError(f"the emulator at {info['base_url']} refused {method} /_emulator/{path}: "
                                f"{exc.code} {_remote_message(exc.read())}",
                                hint=_hint(exc.code)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EmulatorError(
                f"the emulator at {info['base_url']} does not answer ({reason})",
                hint=f"It may have stopped without removing {self.info_path}: start it again with "
                     f"`idmctl emulator --state-dir {self.state_dir}`",
            ) from None
        return json.loads(raw) if raw else None

    # -- what the subcommands do -----------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """What the running emulator says about itself, with its URL and where its files are."""
        return {"base_url": self._running()["base_url"], **self.request("GET", "info")}

    def add_user(self, user: dict[str, Any]) -> dict[str, Any]:
        return dict(self.request("POST", "users", user))

    def get_user(self, key: str) -> dict[str, Any]:
        return dict(self.request("GET", f"users/{quote(key, safe='@')}"))

    def update_user(self, key: str, changes: dict[str, Any]) -> dict[str, Any]:
        return dict(self.request("PATCH", f"users/{quote(key, safe='@')}", changes))

    def delete_user(self, key: str, *, permanent: bool = False) -> None:
        self.request("DELETE", f"users/{quote(key, safe='@')}" + ("?permanent=true" if permanent else ""))

    def restore_user(self, key: str) -> dict[str, Any]:
        return dict(self.request("POST", f"users/{quote(key, safe='@')}/restore", {}))

    def add_fault(self, spec: str) -> dict[str, Any]:
        return dict(self.request("POST", "faults", {"spec": spec}))

    def faults(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "faults")["value"])

    def clear_faults(self) -> None:
        self.request("DELETE", "faults")

    def expire_delta(self, status: int = 400) -> None:
        self.request("POST", "delta/expire", {"status": status})

    def add_app(self, roles: list[str]) -> dict[str, Any]:
        return dict(self.request("POST", "apps", {"roles": roles}))


def _remote_message(raw: bytes) -> str:
    try:
        body = json.loads(raw)
        return str(body["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return raw.decode("utf-8", "replace")[:200]


def _hint(status: int) -> str | None:
    if status in (401, 403):
        return "The admin token changes with the state directory: pass the --state-dir the emulator was started with"
    if status == 404:
        return "Check the user's id or userPrincipalName (`idmctl emulator users get KEY`)"
    return None
