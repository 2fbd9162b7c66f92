"""Fail fast, say what is happening: an unreachable host fails at once; retries worth waiting for say so.

No timed assertion: waits are counted (the recorded ``sleeps``, or the retry lines on stderr).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.cli import run
from controller.connectors.msgraph import GraphConnector, RetryPolicy
from controller.emulator import Emulator
from controller.errors import ConnectorError

Connect = Callable[..., GraphConnector]
DemoRepo = Callable[..., Path]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connection_fails_at_once_with_the_host(emulator_session: Emulator, connect: Connect,
                                                          sleeps: list[float]) -> None:
    url = f"https://127.0.0.1:{_closed_port()}"
    connector = connect(emulator_session, authority_host=url, graph_url=url)
    with pytest.raises(ConnectorError) as err:
        connector.token()
    assert sleeps == []
    assert err.value.code == "NETWORK"
    assert f"cannot reach {url} (Connection refused)" in str(err.value)
    assert "Nothing listens" in (err.value.hint or "") and "idmctl emulator" in (err.value.hint or "")


def test_a_name_that_does_not_resolve_fails_at_once(emulator_session: Emulator, connect: Connect,
                                                    sleeps: list[float]) -> None:
    url = "https://login.idmctl-test.invalid"
    connector = connect(emulator_session, authority_host=url, graph_url="https://graph.idmctl-test.invalid")
    with pytest.raises(ConnectorError) as err:
        connector.token()
    assert sleeps == []
    assert err.value.code == "NETWORK" and "login.idmctl-test.invalid" in str(err.value)
    assert "does not resolve" in (err.value.hint or "")


def test_connector_test_with_the_emulator_stopped_fails_without_retrying(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], demo_repo: DemoRepo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    delays: list[int] = []
    original = RetryPolicy.delay

    def counted(self: RetryPolicy, *args: object) -> float:
        delays.append(1)
        return original(self, *args)  # type: ignore[arg-type]  # the policy's own arguments, passed on

    monkeypatch.setattr(RetryPolicy, "delay", counted)
    with Emulator(tmp_path / "emu") as emu:
        root = demo_repo(tmp_path / "repo", emu)
        base_url = emu.base_url
    # The emulator is stopped: its port refuses connections.
    code = run(["connector", "test", "--env", "demo", "--root", str(root)])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"cannot reach {base_url} (Connection refused)" in err
    assert "Nothing listens" in err and "retrying" not in err
    assert delays == []  # no wait was even computed


def test_throttling_prints_a_line_per_wait_on_stderr(emulator: Emulator, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str], demo_repo: DemoRepo) -> None:
    root = demo_repo(tmp_path / "repo", emulator)
    emulator.inject_fault(429, retry_after=0, count=2, path="/v1.0/users")
    code = run(["connector", "test", "--env", "demo", "--root", str(root)])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = [line for line in err.splitlines() if "retrying" in line]
    assert lines == [
        f"connector 'entra': retrying in 0 s (attempt {n} of 8): 429 Too Many Requests "
        f"(GET {emulator.graph_url}/v1.0/users)" for n in (2, 3)]
    assert emulator.client_secret not in out + err


def test_quiet_hides_retry_lines_and_verbose_adds_requests(emulator: Emulator, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str],
                                                           demo_repo: DemoRepo) -> None:
    root = demo_repo(tmp_path / "repo", emulator)
    emulator.inject_fault(503, retry_after=0, count=1, path="/v1.0/users")
    assert run(["connector", "test", "--env", "demo", "--root", str(root), "-q"]) == 0
    assert "retrying" not in capsys.readouterr().err

    emulator.inject_fault(503, retry_after=0, count=1, path="/v1.0/users")
    assert run(["connector", "test", "--env", "demo", "--root", str(root), "-v"]) == 0
    err = capsys.readouterr().err
    assert "retrying in 0 s (attempt 2 of 8): 503 Service Unavailable" in err
    assert f"POST {emulator.base_url}/{emulator.tenant_id}/oauth2/v2.0/token -> 200" in err
    assert f"GET {emulator.graph_url}/v1.0/users -> 503" in err
    assert emulator.client_secret not in err and "Bearer" not in err and "?" not in err


def test_reconcile_with_the_emulator_stopped_fails_without_retrying(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], demo_repo: DemoRepo) -> None:
    with Emulator(tmp_path / "emu") as emu:
        root = demo_repo(tmp_path / "repo", emu)
        base_url = emu.base_url
        for argv in (["init", "--env", "demo"], ["apply", "--env", "demo", "--auto-approve"]):
            assert run([*argv, "--root", str(root)]) == 0
    capsys.readouterr()
    code = run(["reconcile", "--env", "demo", "--mapping", "entra-users", "--root", str(root)])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"cannot reach {base_url} (Connection refused)" in out + err and "retrying" not in err
