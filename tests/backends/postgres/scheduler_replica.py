"""One scheduler replica for test_processes: ``python scheduler_replica.py SCHEMA DIR I N ROUNDS SCHEDULES``.

Ticks the same fake fire times as its sibling processes, meeting them at a file barrier before every
round so that all replicas race for the same fires; prints one JSON line per fire it ran.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from controller.backends import open_backend
from controller.config.models import EnvironmentResource, RunMode, ScheduleSpec
from controller.cron import parse_cron
from controller.scheduler import Schedule, Scheduler

T0 = datetime(2026, 3, 2, 8, 7, 30, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        self.t += timedelta(seconds=seconds)


def _barrier(directory: Path, name: str, me: int, n: int) -> None:
    (directory / f"{name}.{me}").touch()
    while not all((directory / f"{name}.{i}").exists() for i in range(n)):
        os.sched_yield()


def main(schema: str, directory: str, me: int, n: int, rounds: int, count: int) -> None:
    environment = EnvironmentResource.model_validate({
        "apiVersion": "idmctl/v1", "kind": "Environment", "metadata": {"name": "prod"},
        "spec": {"state": {"backend": "postgres", "dsn": os.environ["IDMCTL_TEST_PG_DSN_FOR_REPLICA"],
                           "password": "${secret.pg_password}", "schema": schema},
                 "secrets": {"pg_password": {"fromEnv": "IDMCTL_TEST_PG_PASSWORD"}}}})
    backend = open_backend(Path(directory), environment)
    schedules = []
    for i in range(count):
        spec = ScheduleSpec(mapping=f"m{i:02d}", cron="0 0/15 * * * ?")
        schedules.append(Schedule(name=f"s{i:02d}", mapping=f"m{i:02d}", cron=parse_cron(spec.cron),
                                  mode=RunMode(spec.mode), time_zone=spec.timeZone, enabled=spec.enabled,
                                  misfire_policy=spec.misfirePolicy))

    def runner(mapping: str, mode: str) -> dict[str, Any]:
        return {"id": f"run-{mapping}-{me}", "state": "SUCCESS"}

    clock = Clock()
    scheduler = Scheduler(schedules, backend.store().schedules, runner, clock, holder=f"replica {me}")
    try:
        _barrier(Path(directory), "start", me, n)
        scheduler.tick()  # first sight: every schedule waits for its next fire time
        for r in range(rounds):
            clock.t = datetime(2026, 3, 2, 8, 15, tzinfo=UTC) + timedelta(minutes=15 * r)
            _barrier(Path(directory), f"round{r}", me, n)
            scheduler.tick()
        for record in scheduler.records:
            print(json.dumps([record["schedule"], record["scheduled"]]))
    finally:
        backend.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
