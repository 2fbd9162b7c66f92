"""The README's tour, every command of it, as written, in a copy of the repository with `idmctl emulator` running.

The only liberty taken: the emulator listens on a free port instead of 47443 (tests run in parallel),
and the copy's environments/demo is pointed at that port, exactly as a user would edit it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controller.cli import run
from tests.conftest import copy_environments

REPO = Path(__file__).resolve().parents[2]


def tour_commands() -> list[list[str]]:
    """The ``idmctl ...`` lines of the README's "A tour" block, comments stripped, split as a shell would."""
    text = (REPO / "README.md").read_text("utf-8")
    block = re.search(r"## A tour\n.*?```sh\n(.*?)```", text, re.S)
    assert block, "README.md has no '## A tour' section with a sh block"
    commands = [shlex.split(line, comments=True) for line in block.group(1).splitlines() if line.strip()]
    assert commands and all(c[0] == "idmctl" for c in commands), commands
    return [c[1:] for c in commands]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_every_command_of_the_readme_tour_works(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    commands = tour_commands()
    assert commands[0][0] == "emulator", "the tour starts the emulator first"
    root = tmp_path / "repo"
    copy_environments(root)
    port = _free_port()
    env_file = root / "environments" / "demo" / "environment.yaml"
    env_file.write_text(env_file.read_text().replace("47443", str(port)))
    monkeypatch.chdir(root)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("IDMCTL_ROOT", raising=False)

    emulator_args = [*commands[0], "--port", str(port)]
    proc = subprocess.Popen([sys.executable, "-m", "controller", *emulator_args], cwd=root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "200"})
    try:
        info_path = root / ".emulator" / "emulator.json"
        deadline = time.monotonic() + 60
        while not info_path.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the emulator did not start within 60 s"
            time.sleep(0.05)
        assert json.loads(info_path.read_text())["port"] == port

        outputs: dict[str, str] = {}
        for args in commands[1:]:
            capsys.readouterr()
            code = run(args)
            out, err = capsys.readouterr()
            line = "idmctl " + shlex.join(args)
            assert code == 0, f"`{line}` exited {code}:\n{out}{err}"
            outputs[line] = out + err
    finally:
        proc.send_signal(signal.SIGINT)
        emulator_out, emulator_err = proc.communicate(timeout=30)

    assert f"Emulator listening on https://127.0.0.1:{port}" in emulator_out
    assert ".emulator/admin_token" in emulator_out
    said = "\n".join(outputs.values())
    assert "Connected" in outputs["idmctl connector test --env demo"]
    search = next(v for k, v in outputs.items() if k.startswith("idmctl identities search"))
    assert "Samantha" in search and "1 found" in search
    secret = (root / ".emulator" / "client_secret").read_text().strip()
    token = (root / ".emulator" / "admin_token").read_text().strip()
    assert secret not in said + emulator_out + emulator_err and token not in said
