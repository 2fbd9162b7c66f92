"""`make demo-aic` from a fresh copy of the repository, both emulators in processes of their own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_environments

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
