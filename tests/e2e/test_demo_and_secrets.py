"""`make demo` and `make demo-aic` from a fresh copy of the repository, and a whole flow searched for the
client secret.

They run the emulators as `idmctl emulator` (and `idmctl emulator aic`) in processes of their own, as a
user does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import copy_environments

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_make_demo_from_a_fresh_copy(tmp_path: Path) -> None:
    root = tmp_path / "clone"
    copy_environments(root)
    shutil.copytree(REPO / "scripts", root / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    port = _free_port()
    env_file = root / "environments" / "demo" / "environment.yaml"
    text = env_file.read_text()
    assert text.count("127.0.0.1:47443") == 2
    env_file.write_text(text.replace("127.0.0.1:47443", f"127.0.0.1:{port}"))

    env = {k: v for k, v in os.environ.items() if k not in ("IDMCTL_ROOT", "ENTRA_CLIENT_SECRET")}
    proc = subprocess.run([sys.executable, str(root / "scripts" / "demo.py"), "--root", str(root), "--port", str(port)],
                          cwd=root, env=env, text=True, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    check_ins = [line for line in out.splitlines() if line.startswith("✓ Check in:")]
    assert len(check_ins) == 9, out
    for expected in ("One ABSENT account, one CREATE.", "CONFIRMED -> UPDATE, from the delta round alone.",
                     "The managed identity now says Samantha.", "Connected to the tenant with User.Read.All."):
        assert any(expected in line for line in check_ins), expected
    assert "Demo complete." in out
    assert (root / ".idmctl" / "demo.db").exists()
    secret = (root / ".emulator" / "client_secret").read_text().strip()
    assert secret and secret not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_make_demo_aic_from_a_fresh_copy(tmp_path: Path) -> None:
    root = tmp_path / "clone"
    copy_environments(root)
    shutil.copytree(REPO / "scripts", root / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    graph, aic = _free_port(), _free_port()
    env_file = root / "environments" / "demo-aic" / "environment.yaml"
    text = env_file.read_text()
    assert text.count("127.0.0.1:47443") == 2 and text.count("127.0.0.1:48443") == 1
    env_file.write_text(text.replace("127.0.0.1:47443", f"127.0.0.1:{graph}")
                        .replace("127.0.0.1:48443", f"127.0.0.1:{aic}"))

    env = {k: v for k, v in os.environ.items() if k not in ("IDMCTL_ROOT", "ENTRA_CLIENT_SECRET", "AIC_SA_KEY")}
    proc = subprocess.run([sys.executable, str(root / "scripts" / "demo_aic.py"), "--root", str(root),
                           "--port", str(graph), "--aic-port", str(aic), "--restart-seconds", "0"],
                          cwd=root, env=env, text=True, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    check_ins = [line for line in out.splitlines() if line.startswith("✓ Check in:")]
    assert len(check_ins) == 9, out
    for expected in ("Unresolved Microsoft Entra users are greater than zero", "Connected; the Data tab lists Sam",
                     "1-to-1 match: the managed identity on the tenant now says Samantha."):
        assert any(expected in line for line in check_ins), expected
    assert "Demo complete." in out
    key = (root / ".emulator-aic" / "service-account.jwk").read_text()
    secret = (root / ".emulator" / "client_secret").read_text().strip()
    assert secret not in out + proc.stderr and '"d"' in key


class _CliEmulator:
    """`idmctl emulator --port 0` as its own process; its settings come from the emulator.json it writes."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.proc = subprocess.Popen([sys.executable, "-m", "controller", "emulator", "--port", "0",
                                      "--state-dir", str(state_dir)],
                                     text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env={**os.environ, "COLUMNS": "200"})
        info_path = state_dir / "emulator.json"
        deadline = time.monotonic() + 60
        while not info_path.exists():
            assert self.proc.poll() is None, self.proc.communicate()
            assert time.monotonic() < deadline, "the emulator did not start within 60 s"
            time.sleep(0.05)
        info = json.loads(info_path.read_text())
        self.emu = SimpleNamespace(base_url=info["base_url"], ca_path=Path(info["caBundle"]),
                                   client_secret_path=Path(info["clientSecretFile"]), client_id=info["clientId"])

    def stop(self) -> str:
        """Stop it as Ctrl-C would; everything it printed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=30)
        return out + err


def test_the_client_secret_is_found_nowhere(tmp_path: Path, demo_repo: Any, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from controller.cli import run

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("IDMCTL_ROOT", raising=False)
    emulator = _CliEmulator(tmp_path / "emulator")
    try:
        secret = emulator.emu.client_secret_path.read_text().strip()
        assert len(secret) >= 20
        root = demo_repo(tmp_path / "repo", emulator.emu)
        state_dir = root / ".idmctl"
        plan_file = tmp_path / "plan.json"
        seen: list[bytes] = []

        def idmctl(*args: str, expect: tuple[int, ...] = (0,)) -> str:
            code = run([*args, "--root", str(root)])
            out, err = capsys.readouterr()
            assert code in expect, f"idmctl {' '.join(args)} exited {code}: {out}{err}"
            seen.append((out + err).encode())
            # The state file and its -wal/-shm companions as they are right now (a WAL may be gone later).
            seen.extend(p.read_bytes() for p in sorted(state_dir.glob("*")) if p.is_file())
            return out

        env = ("--env", "demo")
        idmctl("validate", *env)
        idmctl("validate", *env, "--json")
        idmctl("init", *env)
        idmctl("plan", *env, "--out", str(plan_file))
        for fmt in ("text", "json", "markdown"):
            idmctl("plan", *env, "--format", fmt, "-v")
        idmctl("apply", *env, str(plan_file))
        idmctl("plan", *env, "--json")
        idmctl("connector", "test", *env, "-v")
        idmctl("connector", "test", *env, "--json")
        idmctl("connector", "preview", *env, "entra", "--limit", "5")
        idmctl("connector", "preview", *env, "entra", "--json")
        idmctl("reconcile", *env, "--mapping", "entra-users", "--dry-run", "-v")
        idmctl("reconcile", *env, "--mapping", "entra-users", "--dry-run", "--json")
        idmctl("reconcile", *env, "--mapping", "entra-users", "-v")
        run_id = json.loads(idmctl("reconcile", *env, "--mapping", "entra-users", "--incremental", "--json"))["id"]
        [sam] = json.loads(idmctl("identities", "search", *env, "--json"))
        idmctl("identities", "search", *env)
        idmctl("identities", "get", *env, sam["_id"])
        idmctl("identities", "get", *env, sam["_id"], "--json")
        idmctl("runs", "list", *env)
        idmctl("runs", "list", *env, "--json")
        idmctl("runs", "show", *env, run_id)
        idmctl("runs", "show", *env, run_id, "--json")
        idmctl("schedule", "list", *env)
        idmctl("schedule", "list", *env, "--json")
        # The secret rotated in its file but not applied: the warning names the secret, never its value.
        emulator.emu.client_secret_path.write_text("Rotated-" + secret[::-1] + "\n")
        idmctl("plan", *env, "--format", "markdown")
        idmctl("reconcile", *env, "--mapping", "entra-users", "--json", expect=(1,))
        emulator.emu.client_secret_path.write_text(secret + "\n")
        seen.append(plan_file.read_bytes())
    finally:
        seen_emulator = emulator.stop()

    assert "Client secret: in" in seen_emulator  # what it printed was captured
    needles = (secret.encode(), ("Rotated-" + secret[::-1]).encode())
    for blob in [*seen, seen_emulator.encode()]:
        for needle in needles:
            assert needle not in blob
    # The search itself works: the secret's own file holds it.
    assert secret.encode() in (tmp_path / "emulator" / "client_secret").read_bytes()
