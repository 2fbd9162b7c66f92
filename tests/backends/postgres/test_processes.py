"""Several processes on one PostgreSQL state: what CI runners and controller replicas do at once.

Two applies from two checkouts serialise; a plan made in one checkout applies from another and a stale
one is refused; three scheduler replicas fire each fire exactly once. (The SIGKILLed reconcile is in
tests/e2e/test_resilience_postgres.py, the stalled holder in tests/platforms/test_fencing.py.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from controller.backends import open_backend
from controller.config import load_environment
from controller.config.models import EnvironmentResource
from tests.backends.postgres.conftest import Checkout, idmctl
from tests.postgres_cluster import Cluster

HERE = Path(__file__).resolve().parent


def _backend(root: Path):  # type: ignore[no-untyped-def]
    return open_backend(root, load_environment(root, "prod").resources.environment)


def _filter_enabled_accounts(root: Path) -> None:
    env_file = root / "environments" / "prod" / "environment.yaml"
    text, n = re.subn(r"source_filter:[^#\n]*", 'source_filter: "accountEnabled eq true" ', env_file.read_text())
    assert n == 1
    env_file.write_text(text)


def _spawn(root: Path, log: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "200"}
    with log.open("w") as err:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "controller", *args, "--root", str(root)], env=env,
                                text=True, stdout=subprocess.DEVNULL, stderr=err, cwd=root)


def _wait_for(proc: subprocess.Popen[str], log: Path, text: str) -> None:
    """Block until ``proc`` has written ``text`` to its log (or fail with what it said when it ended)."""
    while text not in log.read_text():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended ({proc.returncode}) without saying {text!r}: {log.read_text()}")
        os.sched_yield()


def test_two_applies_from_two_checkouts_serialise(checkout: Checkout, tmp_path: Path) -> None:
    a, b = checkout("a"), checkout("b")
    assert idmctl(a, "init", "--env", "prod").returncode == 0
    _filter_enabled_accounts(b)

    holder = _backend(a)
    try:
        with holder.lock("a third controller", timeout=5):
            refused = idmctl(b, "apply", "--env", "prod", "--auto-approve", "--lock-timeout", "0")
            assert refused.returncode == 1 and "locked by a third controller" in refused.stderr
            procs = [(_spawn(root, tmp_path / f"{root.name}.log", "apply", "--env", "prod", "--auto-approve",
                             "--lock-timeout", "120"), tmp_path / f"{root.name}.log") for root in (a, b)]
            for proc, log in procs:
                _wait_for(proc, log, "Waiting up to 120s for the environment lock held by a third controller")
        for proc, log in procs:
            proc.communicate(timeout=120)
            assert proc.returncode == 0, log.read_text()
        state = holder.read_applied()
        applies = [e for e in holder.audit_log() if e.action == "apply"]
    finally:
        holder.close()
    assert state.serial == 2 and sorted(e.serial for e in applies) == [1, 2]  # neither apply was lost
    # The state is whole: it is exactly the files of the checkout that applied last, and nothing of a mix.
    codes = sorted(idmctl(root, "plan", "--env", "prod", "--detailed-exitcode").returncode for root in (a, b))
    assert codes == [0, 2]


def test_a_plan_made_in_one_checkout_applies_from_another_and_a_stale_one_is_refused(
        checkout: Checkout, tmp_path: Path) -> None:
    a, b = checkout("a"), checkout("b")
    assert idmctl(a, "init", "--env", "prod").returncode == 0
    plan = tmp_path / "first.plan"
    assert idmctl(a, "plan", "--env", "prod", "--out", str(plan)).returncode == 0
    applied = idmctl(b, "apply", "--env", "prod", str(plan))
    assert applied.returncode == 0, applied.stderr
    assert idmctl(a, "plan", "--env", "prod", "--detailed-exitcode").returncode == 0  # a sees b's apply

    for root in (a, b):  # the same change reaches both checkouts (a merge)
        _filter_enabled_accounts(root)
    second = tmp_path / "second.plan"
    assert idmctl(a, "plan", "--env", "prod", "--out", str(second)).returncode == 0
    assert idmctl(b, "apply", "--env", "prod", "--auto-approve").returncode == 0  # someone applied first
    stale = idmctl(b, "apply", "--env", "prod", str(second))
    assert stale.returncode == 1 and "serial" in stale.stderr, stale.stderr
    backend = _backend(a)
    try:
        assert backend.read_applied().serial == 2
    finally:
        backend.close()


def test_three_scheduler_replicas_fire_each_fire_exactly_once(pg_cluster: Cluster, pg_schema: str,
                                                             tmp_path: Path) -> None:
    rounds, schedules, replicas = 25, 8, 3
    environment = EnvironmentResource.model_validate({
        "apiVersion": "idmctl/v1", "kind": "Environment", "metadata": {"name": "prod"},
        "spec": {"state": pg_cluster.state(pg_schema), "secrets": pg_cluster.secrets()}})
    backend = open_backend(tmp_path, environment, must_exist=False)
    try:
        assert backend.init()
    finally:
        backend.close()
    env = {**os.environ, "IDMCTL_TEST_PG_DSN_FOR_REPLICA": pg_cluster.dsn}
    procs = [subprocess.Popen([sys.executable, str(HERE / "scheduler_replica.py"), pg_schema, str(tmp_path), str(i),
                               str(replicas), str(rounds), str(schedules)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(replicas)]
    fired: list[tuple[str, str]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        fired.extend(tuple(json.loads(line)) for line in out.splitlines())  # type: ignore[misc]
    counts = Counter(fired)
    assert [fire for fire, n in counts.items() if n > 1] == []  # no fire ran twice
    assert len(counts) == rounds * schedules  # and none was lost
