"""The environment lock: one holder, a clear error naming it, renewal, force-unlock, dead holders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from backend_docs import environment

from controller.backends import open_backend
from controller.backends.sqlite import SqliteBackend
from controller.errors import LockHeldError, StateError
from tests.conftest import copy_environment

ENV = environment().model_dump(by_alias=True)  # what a child process rebuilds the Environment from
CONNECTOR = {"apiVersion": "idmctl/v1", "kind": "Connector", "name": "entra", "spec": {"type": "microsoft-graph"}}


def holder_process(root: Path, ttl: float, *, hold_until: Path | None = None) -> subprocess.Popen[str]:
    """A separate process that takes the lock, prints its lease, and holds it (until a file appears)."""
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from controller.backends import open_backend
        from controller.config.models import EnvironmentResource
        target = open_backend(Path({str(root)!r}), EnvironmentResource.model_validate({ENV!r}))
        with target.lock("holder-process", timeout=60, ttl={ttl}) as lease:
            print(lease.lock_id, flush=True)
            stop = {str(hold_until) if hold_until else None!r}
            while stop is None or not Path(stop).exists():
                time.sleep(0.05)
        print("released", flush=True)
    """)
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])


def test_second_writer_gets_an_error_naming_the_holder(target: SqliteBackend) -> None:
    with target.lock("idmctl apply (alice)", timeout=5) as lease:
        assert target.current_lock() == lease
        with pytest.raises(LockHeldError) as info, target.lock("idmctl reconcile", timeout=0):
            pass
    message = str(info.value)
    for part in ("idmctl apply (alice)", f"pid {os.getpid()}", lease.host, lease.lock_id,
                 f"idmctl force-unlock --env dev {lease.lock_id}"):
        assert part in message
    assert info.value.lock_id == lease.lock_id and info.value.holder == "idmctl apply (alice)"
    assert target.current_lock() is None
    with target.lock("next", timeout=0) as again:
        assert again.lock_id != lease.lock_id


def test_waiter_is_told_once_and_gets_the_lock_when_released(target: SqliteBackend, tmp_path: Path) -> None:
    release = tmp_path / "release"
    proc = holder_process(tmp_path, ttl=30, hold_until=release)
    assert proc.stdout is not None
    held_id = proc.stdout.readline().strip()
    seen: list[str] = []

    def on_wait(lease):  # type: ignore[no-untyped-def]
        seen.append(lease.lock_id)
        release.touch()  # the holder finishes only once we are known to be waiting

    with target.lock("waiter", timeout=60, on_wait=on_wait) as lease:
        assert lease.holder == "waiter"
    assert seen == [held_id]
    assert proc.communicate(timeout=60)[0].strip() == "released" and proc.returncode == 0


def test_lease_is_renewed_while_held(target: SqliteBackend) -> None:
    with target.lock("long job", timeout=0, ttl=0.6) as lease:
        first_expiry = lease.expires
        deadline = time.monotonic() + 30
        while (current := target.current_lock()) is not None and current.expires <= first_expiry:
            assert time.monotonic() < deadline, "the lease was never renewed"
            time.sleep(0.05)
        assert current is not None and current.lock_id == lease.lock_id
        assert not lease.lost.is_set()


def test_lock_of_a_killed_process_is_taken_over_after_expiry(target: SqliteBackend, tmp_path: Path) -> None:
    proc = holder_process(tmp_path, ttl=1.0)
    assert proc.stdout is not None
    dead_id = proc.stdout.readline().strip()
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    leftover = target.connection.execute("SELECT lock_id, pid FROM env_lock").fetchone()
    assert leftover == (dead_id, proc.pid)  # nobody released it: the process died holding it
    with target.lock("survivor", timeout=60) as lease:
        assert lease.holder == "survivor" and lease.lock_id != dead_id


def test_force_unlock_frees_the_lock_and_is_audited(target: SqliteBackend, tmp_path: Path) -> None:
    proc = holder_process(tmp_path, ttl=3600)
    assert proc.stdout is not None
    held_id = proc.stdout.readline().strip()
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    with pytest.raises(StateError, match="no lock with id nope"):
        target.force_unlock("nope")
    removed = target.force_unlock(held_id)
    assert removed.holder == "holder-process"
    assert target.current_lock() is None
    assert target.audit_log()[0].action == "force-unlock"
    with target.lock("next", timeout=0):
        pass


def test_a_lost_lease_cannot_write(target: SqliteBackend) -> None:
    lineage = target.read_applied().lineage
    with target.lock("slow", timeout=0) as lease:
        target.force_unlock(lease.lock_id, force=True)
        with pytest.raises(LockHeldError, match="nothing was written"):
            target.write_applied({"Connector.entra": CONNECTOR}, expected_serial=0, expected_lineage=lineage,
                                 lease=lease, summary="x")
    assert target.read_applied().resources == {}


def test_concurrent_writers_serialise(tmp_path: Path, target: SqliteBackend) -> None:
    """Each process reads the serial under the lock and writes serial+1: none is ever stale."""
    script = textwrap.dedent(f"""
        from pathlib import Path
        from controller.backends import open_backend
        from controller.config.models import EnvironmentResource
        target = open_backend(Path({str(tmp_path)!r}), EnvironmentResource.model_validate({ENV!r}))
        for i in range(5):
            with target.lock("writer", timeout=120) as lease:
                state = target.read_applied()
                target.write_applied({{"Connector.entra": {CONNECTOR!r}}}, expected_serial=state.serial,
                                     expected_lineage=state.lineage, lease=lease, summary="x")
    """)
    cwd = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=cwd) for _ in range(3)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    assert target.read_applied().serial == 15
    assert len(target.audit_log()) == 15


def test_open_target_accepts_a_different_root(tmp_path: Path) -> None:
    target = open_backend(tmp_path, environment(), must_exist=False)
    assert target.location == str((tmp_path / ".idmctl/dev.db").resolve())
    target.close()


def test_force_unlock_of_a_live_holder_needs_force_and_then_fences_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the CLI: the live holder is refused, --force releases it."""
    from controller.cli import run

    copy_environment("dev", tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run(["init", "--env", "dev"]) == 0
    proc = holder_process(tmp_path, ttl=3600)
    try:
        assert proc.stdout is not None
        held_id = proc.stdout.readline().strip()
        capsys.readouterr()
        assert run(["force-unlock", "--env", "dev", held_id]) == 1
        err = capsys.readouterr().err
        assert f"pid {proc.pid}" in err and "still running on this host" in err and "--force" in err
        assert run(["force-unlock", "--env", "dev", held_id, "--force"]) == 0
        assert "Released the lock" in capsys.readouterr().out
    finally:
        proc.kill()
        proc.communicate(timeout=30)
