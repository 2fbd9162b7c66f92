"""A reconcile SIGKILLed mid-run with its state in PostgreSQL, rerun: it converges to an uninterrupted run.

The run is a process of its own against an emulator here; the test watches the schema and kills the
process after whole batches committed. Committed work is whole (each object with its link), the delta
link is never ahead of the data, and after force-unlock a rerun reaches exactly what a never-interrupted
run into another schema holds (``{userName: properties}`` and ``{sourceId: userName}``).
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from controller.emulator import Emulator
from tests.e2e.conftest import Idm

RECONCILE = ("reconcile", "--env", "demo", "--mapping", "entra-users")
USERS = 20_000  # several of the run's batches (they commit every 5,000 source objects), so a kill lands between
PAGE = 999  # the connector's page size: batches are whole pages


def _q(env: Idm, sql: str) -> list[tuple[Any, ...]]:
    assert env.pg is not None
    cluster, schema = env.pg
    return cluster.query(sql.replace("FROM ", f'FROM "{schema}".'))


def _count(env: Idm) -> int:
    return int(_q(env, "SELECT count(*) FROM alpha_user")[0][0])


def _converged_view(env: Idm) -> tuple[dict[str, Any], dict[str, str]]:
    objects = dict(_q(env, "SELECT id, properties FROM alpha_user"))
    links = _q(env, "SELECT source_id, target_id FROM links WHERE mapping = 'entra-users'")
    assert len({t for _, t in links}) == len(links), "a managed object is linked twice"
    assert all(t in objects for _, t in links), "a link points at no managed object"
    assert len(links) == len(objects), "a managed object has no link"
    by_name = {p["userName"]: p for p in objects.values()}
    assert len(by_name) == len(objects), "two managed objects share a userName"
    return by_name, {s: objects[t]["userName"] for s, t in links}


def _kill_when(proc: subprocess.Popen[str], ready: Callable[[], bool]) -> bool:
    while proc.poll() is None:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
            return True
    proc.communicate(timeout=60)
    return False


@pytest.fixture
def emulator_20k(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Emulator(tmp_path_factory.mktemp("emulator-20k"), generate=USERS, seed_sample=False) as emu:
        yield emu


@pytest.mark.slow
@pytest.mark.parametrize("state_backend", ["postgres"], indirect=True)
def test_sigkill_mid_run_converges_to_an_uninterrupted_run(emulator_20k: Emulator, idm: Any) -> None:
    crashed = idm(emulator_20k, source_filter=None)
    proc = crashed.spawn(*RECONCILE)
    assert _kill_when(proc, lambda: _count(crashed) >= PAGE), "the run finished before it could be killed"
    first = _count(crashed)
    assert 0 < first < USERS and first % PAGE == 0  # whole batches only
    assert _q(crashed, "SELECT count(*) FROM sync_tokens") == [(0,)]  # no delta link ahead of the data
    assert _q(crashed, "SELECT state FROM recon_runs") == [("ACTIVE",)]
    _converged_view(crashed)

    held = crashed.cli(*RECONCILE, "--lock-timeout", "0")
    assert held.code == 1 and f"pid {proc.pid} " in held.err, held.text
    lock_id = re.search(r"lock id ([0-9a-f-]{36})", held.err).group(1)  # type: ignore[union-attr]
    assert crashed.cli("force-unlock", "--env", "demo", lock_id).code == 0

    code, run = crashed.reconcile()
    assert code == 0, run["reason"]
    assert any("had been interrupted; it is now marked FAILED" in w for w in run["warnings"])
    assert _q(crashed, "SELECT count(*) FROM sync_tokens") == [(1,)]

    reference = idm(emulator_20k, source_filter=None)
    code, ref_run = reference.reconcile()
    assert code == 0 and ref_run["actions"] == {"CREATE": USERS}
    objects, links = _converged_view(crashed)
    assert (objects, links) == _converged_view(reference)
    assert len(objects) == USERS
