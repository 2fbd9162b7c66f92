"""The scheduler loop against a real local state file, with an injected clock that never sleeps."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from controller.backends.sqlite import SqliteBackend
from controller.config.models import RunMode, ScheduleResource, ScheduleSpec
from controller.cron import parse_cron
from controller.errors import ReconError, RunBlocked
from controller.scheduler import Schedule, Scheduler

T0 = datetime(2026, 3, 2, 8, 7, 30, tzinfo=UTC)  # a Monday morning


class FakeClock:
    """Time stands still unless a test moves it; ``sleep`` moves it instead of waiting."""

    def __init__(self, start: datetime = T0) -> None:
        self.t = start
        self.sleeps: list[float] = []
        self.on_sleep: Any = None

    def now(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t += timedelta(**kw)

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        self.sleeps.append(seconds)
        self.t += timedelta(seconds=seconds)
        if self.on_sleep is not None:
            self.on_sleep(self)


class Recorder:
    """A runner that records what it ran and answers like `reconcile --json`."""

    def __init__(self, clock: FakeClock | None = None, states: dict[str, str] | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.clock = clock
        self.states = states or {}
        self.during: Any = None

    def __call__(self, mapping: str, mode: str) -> dict[str, Any]:
        self.calls.append((mapping, mode))
        if self.during is not None:
            self.during(mapping)
        if self.clock is not None:
            self.clock.advance(seconds=20)  # a run takes a while
        n = len(self.calls)
        return {"id": f"run-{n:03d}", "mapping": mapping, "mode": mode,
                "state": self.states.get(mapping, "SUCCESS"), "processed": 32, "failures": 0}


def sched(name: str, cron: str, mapping: str = "entra-users", **kw: Any) -> Schedule:
    """A schedule with the Schedule resource's defaults, changed by ``kw``."""
    spec = ScheduleSpec(mapping=mapping, cron=cron)
    fields: dict[str, Any] = {"mode": RunMode(spec.mode), "time_zone": spec.timeZone, "enabled": spec.enabled,
                              "misfire_policy": spec.misfirePolicy, **kw}
    fields["mode"] = RunMode(fields["mode"])
    return Schedule(name=name, mapping=mapping, cron=parse_cron(cron), **fields)


@pytest.fixture
def target(tmp_path: Path) -> SqliteBackend:
    t = SqliteBackend("dev", tmp_path / ".idmctl" / "dev.db")
    t.init()
    yield t
    t.close()


def second_replica(target: SqliteBackend) -> SqliteBackend:
    """Another process's view of the same state file: its own connection."""
    return SqliteBackend("dev", target.path).open_existing()  # type: ignore[return-value]


def test_first_sight_waits_for_the_next_fire_time(target: SqliteBackend) -> None:
    clock = FakeClock()
    runner = Recorder(clock)
    s = Scheduler([sched("entra-incremental", "0 0/15 * * * ?")], target.store().schedules, runner, clock)
    assert s.tick() == []
    state = target.store().schedules.get("entra-incremental")
    assert state is not None and state.next_fire == datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
    assert runner.calls == []


def test_due_and_not_due(target: SqliteBackend) -> None:
    clock = FakeClock()
    runner = Recorder(clock)
    s = Scheduler([sched("entra-incremental", "0 0/15 * * * ?"), sched("entra-nightly", "0 0 2 * * ?",
                   mode="full")], target.store().schedules, runner, clock)
    s.tick()
    clock.t = datetime(2026, 3, 2, 8, 14, 59, tzinfo=UTC)
    assert s.tick() == []
    clock.t = datetime(2026, 3, 2, 8, 15, 0, tzinfo=UTC)
    (record,) = s.tick()
    assert runner.calls == [("entra-users", "incremental")]
    assert record["event"] == "run" and record["state"] == "SUCCESS" and record["runId"] == "run-001"
    assert record["scheduled"] == "2026-03-02T08:15:00Z" and record["next"] == "2026-03-02T08:30:00Z"
    state = target.store().schedules.get("entra-incremental")
    assert state is not None
    assert state.last_fire == datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
    assert state.last_run_state == "SUCCESS" and state.last_run_id == "run-001"
    assert state.next_fire == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    assert s.tick() == []  # the same fire never runs twice


def test_fires_in_the_schedules_time_zone(target: SqliteBackend) -> None:
    clock = FakeClock(datetime(2026, 7, 1, 0, 0, tzinfo=UTC))
    s = Scheduler([sched("berlin-noon", "0 0 12 * * ?", time_zone="Europe/Berlin")],
                  target.store().schedules, Recorder(), clock)
    s.tick()
    state = target.store().schedules.get("berlin-noon")
    assert state is not None and state.next_fire == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("policy", "runs", "event"), [("fireAndProceed", 1, "run"), ("doNothing", 0, "skipped")]
)
def test_misfire_after_downtime(target: SqliteBackend, policy: str, runs: int, event: str) -> None:
    clock = FakeClock()
    runner = Recorder()
    schedules = [sched("entra-incremental", "0 0/15 * * * ?", misfire_policy=policy)]
    Scheduler(schedules, target.store().schedules, runner, clock).tick()
    # The scheduler is down for three hours: twelve fire times pass.
    clock.t = datetime(2026, 3, 2, 11, 20, 10, tzinfo=UTC)
    restarted = Scheduler(schedules, second_replica(target).store().schedules, runner, clock)
    records = restarted.tick()
    assert len(runner.calls) == runs  # never a catch-up burst of twelve
    (record,) = records
    assert record["event"] == event and record["scheduled"] == "2026-03-02T08:15:00Z"
    state = target.store().schedules.get("entra-incremental")
    assert state is not None and state.next_fire == datetime(2026, 3, 2, 11, 30, tzinfo=UTC)
    assert restarted.tick() == []


def test_a_little_late_is_not_a_misfire(target: SqliteBackend) -> None:
    clock = FakeClock()
    runner = Recorder()
    schedules = [sched("entra-incremental", "0 0/15 * * * ?", misfire_policy="doNothing")]
    s = Scheduler(schedules, target.store().schedules, runner, clock)
    s.tick()
    clock.t = datetime(2026, 3, 2, 8, 15, 45, tzinfo=UTC)  # 45 s late, under the 60 s threshold
    assert [r["event"] for r in s.tick()] == ["run"]


def test_blocked_run_pauses_until_a_person_overrides(target: SqliteBackend) -> None:
    clock = FakeClock()
    runner = Recorder(clock, states={"entra-users": "BLOCKED"})
    s = Scheduler([sched("entra-incremental", "0 0/15 * * * ?")], target.store().schedules, runner, clock)
    s.tick()
    clock.t = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
    (record,) = s.tick()
    assert record["state"] == "BLOCKED" and record["paused"] is True
    state = target.store().schedules.get("entra-incremental")
    assert state is not None and state.paused and "--allow-deletes" in (state.paused_reason or "")
    clock.t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert s.tick() == [] and len(runner.calls) == 1  # paused: no more runs
    assert target.store().schedules.resume_mapping("entra-users", clock.t) == ["entra-incremental"]
    runner.states.clear()
    assert [r["state"] for r in s.tick()] == ["SUCCESS"]


def test_runner_raising_blocked_or_failing_is_recorded(target: SqliteBackend) -> None:
    clock = FakeClock()

    def runner(mapping: str, mode: str) -> dict[str, Any]:
        if mapping == "entra-users":
            raise RunBlocked("47 deletes would exceed safety.maxDeletes 10 of mapping entra-users")
        raise ReconError("mapping 'hr-users' is not applied")

    s = Scheduler([sched("a", "0 0/15 * * * ?"), sched("b", "0 0/15 * * * ?", mapping="hr-users")],
                  target.store().schedules, runner, clock)
    s.tick()
    clock.t = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
    records = s.tick()
    assert [(r["schedule"], r["state"], r["paused"]) for r in records] == [
        ("a", "BLOCKED", True), ("b", "FAILED", False)]
    assert "maxDeletes" in records[0]["message"] and "not applied" in records[1]["message"]


def test_two_schedules_of_one_mapping_run_one_after_the_other(target: SqliteBackend) -> None:
    clock = FakeClock()
    runner = Recorder(clock)
    active: Counter[str] = Counter()
    overlaps: list[str] = []

    def during(mapping: str) -> None:
        active[mapping] += 1
        if active[mapping] > 1:
            overlaps.append(mapping)
        active[mapping] -= 1

    runner.during = during
    s = Scheduler([sched("incremental", "0 0 * * * ?"), sched("full", "0 0 9 * * ?", mode="full")],
                  target.store().schedules, runner, clock)
    s.tick()
    clock.t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    records = s.tick()
    assert [r["schedule"] for r in records] == ["full", "incremental"]
    assert overlaps == []


def test_a_mapping_running_on_another_replica_makes_the_fire_wait(target: SqliteBackend) -> None:
    clock = FakeClock()
    other = second_replica(target)
    runner_b = Recorder()
    b = Scheduler([sched("full", "0 0 9 * * ?", mode="full")], other.store().schedules, runner_b, clock)
    runner_a = Recorder()
    a = Scheduler([sched("incremental", "0 0 * * * ?")], target.store().schedules, runner_a, clock)
    a.tick()
    b.tick()
    clock.t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    seen_mid_run: list[list[dict[str, Any]]] = []
    runner_a.during = lambda mapping: seen_mid_run.append(b.tick())  # replica B wakes up mid-run
    assert [r["schedule"] for r in a.tick()] == ["incremental"]
    assert seen_mid_run == [[]] and runner_b.calls == []  # B saw the mapping busy and waited
    assert target.store().schedules.running() == {}
    assert [r["schedule"] for r in b.tick()] == ["full"]  # still due once A finished, runs now


def test_sigterm_mid_run_finishes_the_run_and_stops(target: SqliteBackend) -> None:
    clock = FakeClock()
    runner = Recorder(clock)
    runner.during = lambda mapping: os.kill(os.getpid(), signal.SIGTERM)
    s = Scheduler([sched("a", "0 0/15 * * * ?"), sched("b", "0 0/15 * * * ?", mapping="hr-users")],
                  target.store().schedules, runner, clock)
    s.tick()
    clock.t = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
    before = signal.getsignal(signal.SIGTERM)
    with s.signal_handlers():
        records = s.run()
    assert signal.getsignal(signal.SIGTERM) is before
    assert s.stopping and clock.sleeps == []
    assert [(r["schedule"], r["state"]) for r in records] == [("a", "SUCCESS")]  # b waits for next start
    state = target.store().schedules.get("a")
    assert state is not None and state.last_run_state == "SUCCESS"
    assert target.store().schedules.running() == {}  # the claim was released: state is consistent


def test_loop_sleeps_until_the_next_fire(target: SqliteBackend) -> None:
    clock = FakeClock()
    runner = Recorder()
    s = Scheduler([sched("a", "0 0/15 * * * ?")], target.store().schedules, runner, clock, max_sleep=600)

    def stop_after_two_runs(c: FakeClock) -> None:
        if len(runner.calls) >= 2:
            s.stop()

    clock.on_sleep = stop_after_two_runs
    records = s.run()
    assert [r["scheduled"] for r in records] == ["2026-03-02T08:15:00Z", "2026-03-02T08:30:00Z"]
    assert clock.sleeps[0] == 450.0  # 08:07:30 -> 08:15:00


def test_two_replicas_on_one_file_never_double_fire(target: SqliteBackend) -> None:
    """Two schedulers, two connections, racing in threads over many fires: each fire runs once."""
    schedules = [sched(f"s{i:02d}", "0 0/15 * * * ?", mapping=f"m{i:02d}") for i in range(12)]
    fired: list[tuple[str, str]] = []
    lock = threading.Lock()
    replicas = []
    for t in (target, second_replica(target)):
        clock = FakeClock()

        def runner(mapping: str, mode: str) -> dict[str, Any]:
            with lock:
                fired.append((mapping, mode))
            return {"id": f"run-{mapping}", "state": "SUCCESS"}

        replicas.append((Scheduler(schedules, t.store().schedules, runner, clock), clock))
    for s, _ in replicas:
        s.tick()
    for round_ in range(4):
        for _, clock in replicas:
            clock.t = datetime(2026, 3, 2, 8, 15, tzinfo=UTC) + timedelta(minutes=15 * round_)
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def go(s: Scheduler, barrier: threading.Barrier = barrier, errors: list[BaseException] = errors) -> None:
            try:
                barrier.wait()
                s.tick()
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=go, args=(s,)) for s, _ in replicas]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
    counts = Counter(mapping for mapping, _ in fired)
    assert counts == {f"m{i:02d}": 4 for i in range(12)}
    ran = Counter(r["schedule"] for s, _ in replicas for r in s.records)
    assert ran == {f"s{i:02d}": 4 for i in range(12)}


def test_a_changed_cron_starts_afresh(target: SqliteBackend) -> None:
    clock = FakeClock()
    Scheduler([sched("a", "*/15 * * * * ?")], target.store().schedules, Recorder(), clock).tick()
    state = target.store().schedules.get("a")
    assert state is not None and state.next_fire == datetime(2026, 3, 2, 8, 7, 45, tzinfo=UTC)
    Scheduler([sched("a", "0 0/15 * * * ?")], target.store().schedules, Recorder(), clock).tick()
    state = target.store().schedules.get("a")
    assert state is not None and state.next_fire == datetime(2026, 3, 2, 8, 15, tzinfo=UTC)


def test_disabled_schedules_do_not_fire(target: SqliteBackend) -> None:
    clock = FakeClock()
    runner = Recorder()
    s = Scheduler([sched("a", "0 0/15 * * * ?", enabled=False)], target.store().schedules, runner, clock)
    s.tick()
    clock.advance(hours=1)
    assert s.tick() == [] and target.store().schedules.get("a") is None


def test_schedule_from_resource() -> None:
    resource = ScheduleResource.model_validate(
        {"apiVersion": "idmctl/v1", "kind": "Schedule", "metadata": {"name": "entra-incremental"},
         "spec": {"mapping": "entra-users", "cron": "0 0/15 * * * ?", "timeZone": "Europe/Berlin",
                  "misfirePolicy": "doNothing"}})
    s = Schedule.from_resource(resource)  # mode and enabled: the model's defaults
    assert (s.name, s.mapping, s.mode, s.time_zone, s.misfire_policy) == (
        "entra-incremental", "entra-users", "incremental", "Europe/Berlin", "doNothing")
    assert str(s.cron) == "0 0/15 * * * ?"
