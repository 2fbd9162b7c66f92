"""The scheduler loop: fires due schedules in their time zones, one run per mapping at a time, with
Quartz's misfire policies after downtime, state shared by replicas, and a graceful stop.

Semantics, after PingIDM's scheduler (Quartz underneath):

* a schedule seen for the first time fires at its next fire time after now, never at once;
* ``concurrentExecution: false``: a fire whose mapping is still running waits until the run ends;
* a fire later than ``misfire_threshold`` (Quartz's default is 60 s) is a misfire: ``fireAndProceed``
  runs it once now and goes on from now, ``doNothing`` skips to the next fire time after now;
* a run that ends BLOCKED pauses its schedule until a person reruns the mapping with ``--allow-deletes``;
* replicas never double-fire: a fire belongs to the replica whose compare-and-set on ``next_fire`` wins.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from controller.backends import ScheduleStateStore, iso_utc
from controller.config.models import RunMode, RunState, ScheduleResource
from controller.cron import CronExpression, parse_cron, resolve_zone
from controller.errors import IdmctlError, RunBlocked

__all__ = ["Clock", "OverrideCheck", "Runner", "Schedule", "Scheduler", "SystemClock"]

Runner = Callable[[str, RunMode], Mapping[str, Any]]
"""Runs one reconciliation of a mapping; returns the run's JSON (``id``, ``state``, ``reason`` ...)."""
OverrideCheck = Callable[[str, datetime], bool]
"""Whether a person ran the mapping with ``--allow-deletes`` successfully after the given time."""
# How soon to look again at a fire that is due but whose mapping is running elsewhere.
_BUSY_POLL_SECONDS = 5.0


class Clock(Protocol):
    """Time as the scheduler sees it; tests inject one that never really sleeps."""

    def now(self) -> datetime:
        """The current time, aware."""
        ...

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        """Wait ``seconds`` or until ``stop`` is set, whichever comes first."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        stop.wait(max(seconds, 0.0))


@dataclass(frozen=True, slots=True)
class Schedule:
    """One schedule as the loop needs it (from a ``Schedule`` resource, whose model holds the defaults)."""

    name: str
    mapping: str
    cron: CronExpression
    mode: RunMode
    time_zone: str
    enabled: bool
    misfire_policy: str

    @classmethod
    def from_resource(cls, resource: ScheduleResource) -> Schedule:
        spec = resource.spec
        resolve_zone(spec.timeZone)  # fail early on an unknown zone
        return cls(name=resource.metadata.name, mapping=spec.mapping, cron=parse_cron(spec.cron),
                   mode=RunMode(spec.mode), time_zone=spec.timeZone, enabled=spec.enabled,
                   misfire_policy=spec.misfirePolicy)


class Scheduler:
    """Runs ``runner(mapping, mode)`` for each due schedule; see the module docstring for the rules.

    ``schedules`` is a list of specs or a callable returning them (read again every tick, so an apply
    while the loop runs takes effect). ``log`` receives one dict per run or skipped fire.
    """

    def __init__(
        self,
        schedules: Iterable[Schedule] | Callable[[], Iterable[Schedule]],
        store: ScheduleStateStore,
        runner: Runner,
        clock: Clock | None = None,
        *,
        overridden_since: OverrideCheck | None = None,
        env: str = "E",
        log: Callable[[dict[str, Any]], None] | None = None,
        holder: str | None = None,
        misfire_threshold: float = 60.0,
        max_sleep: float = 30.0,
        run_lease: float = 6 * 3600.0,
    ) -> None:
        self._schedules = schedules
        self.store = store
        self.runner = runner
        self.overridden_since: OverrideCheck = overridden_since or (lambda mapping, since: False)
        self.env = env  # for the commands the pause reason suggests
        self.clock = clock or SystemClock()
        self.log = log or (lambda record: None)
        self.holder = holder or f"scheduler {socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.misfire_threshold = timedelta(seconds=misfire_threshold)
        self.max_sleep = max_sleep
        self.run_lease = run_lease
        self._stop = threading.Event()
        self.records: list[dict[str, Any]] = []  # every record logged, for `--once` and tests

    # --- control -----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to stop after the run in hand (safe from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @contextmanager
    def signal_handlers(self) -> Iterator[None]:
        """SIGTERM and SIGINT stop the loop gracefully while inside this block (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def handler(signum: int, frame: object) -> None:
            self.stop()

        for sig in previous:
            signal.signal(sig, handler)
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def run(self, *, once: bool = False) -> list[dict[str, Any]]:
        """Tick until stopped (``once``: a single tick); returns the records logged."""
        while not self.stopping:
            self.tick()
            if once or self.stopping:
                break
            self.clock.sleep(self._sleep_seconds(), self._stop)
        return self.records

    # --- one pass ----------------------------------------------------------------------------------

    def specs(self) -> list[Schedule]:
        source = self._schedules() if callable(self._schedules) else self._schedules
        return [s for s in source if s.enabled]

    def tick(self) -> list[dict[str, Any]]:
        """Fire every schedule that is due now, in order of fire time; returns this tick's records."""
        records: list[dict[str, Any]] = []
        now = self.clock.now()
        due: list[tuple[datetime, Schedule]] = []
        for spec in self.specs():
            state = self.store.ensure(spec.name, spec.mapping, str(spec.cron), spec.time_zone,
                                      spec.cron.next_fire(now, spec.time_zone), now)
            if state.paused and state.paused_at and self.overridden_since(spec.mapping, state.paused_at):
                self.store.resume_mapping(spec.mapping, now)
                state = self.store.get(spec.name) or state
            if state.paused or state.next_fire is None or state.next_fire > now:
                continue
            due.append((state.next_fire, spec))
        for scheduled, spec in sorted(due, key=lambda item: (item[0], item[1].name)):
            if self.stopping:
                break
            record = self._fire(spec, scheduled)
            if record is not None:
                records.append(record)
        return records

    def _fire(self, spec: Schedule, scheduled: datetime) -> dict[str, Any] | None:
        now = self.clock.now()
        following = spec.cron.next_fire(now, spec.time_zone)
        late = now - scheduled
        if late > self.misfire_threshold and spec.misfire_policy == "doNothing":
            if not self.store.skip(spec.name, scheduled, following, now):
                return None
            return self._emit({
                "event": "skipped", "schedule": spec.name, "mapping": spec.mapping, "mode": spec.mode,
                "scheduled": iso_utc(scheduled), "lateSeconds": int(late.total_seconds()),
                "next": iso_utc(following), "reason": "misfire (doNothing): the fire time passed while "
                "the scheduler was not running or the mapping was busy",
            })
        claim = self.store.claim(spec.name, spec.mapping, scheduled, following, self.holder, now,
                                 self.run_lease)
        if claim != "claimed":
            return None
        started = time.monotonic()
        run_id, state, message = None, str(RunState.FAILED), None
        result: dict[str, Any] = {}
        try:
            result = dict(self.runner(spec.mapping, spec.mode))
            run_id, state = result.get("id"), str(result.get("state", RunState.FAILED))
            message = result.get("reason") or result.get("message")
        except RunBlocked as exc:
            state, message = str(RunState.BLOCKED), str(exc)
        except IdmctlError as exc:
            message = str(exc)
        except Exception as exc:  # a bug in one run must not stop the other schedules
            message = f"internal error ({type(exc).__name__}: {exc})"
        ended = self.clock.now()
        pause = None
        if state == RunState.BLOCKED:
            deletes = result.get("deletes") if isinstance(result.get("deletes"), int) else None
            pause = (f"run {run_id or '?'} was BLOCKED by the safety guard; review it with `idmctl reconcile "
                     f"--env {self.env} --mapping {spec.mapping} --dry-run`, then let it through with `idmctl "
                     f"reconcile --env {self.env} --mapping {spec.mapping} --allow-deletes {deletes or 'N'}` (or "
                     f"`idmctl schedule resume --env {self.env} {spec.name}` to resume without running it)")
        self.store.finish(spec.name, spec.mapping, self.holder, run_id=run_id, state=state,
                          message=message, now=ended, pause_reason=pause)
        return self._emit({
            "event": "run", "schedule": spec.name, "mapping": spec.mapping, "mode": spec.mode,
            "scheduled": iso_utc(scheduled), "fired": iso_utc(now),
            "lateSeconds": int(late.total_seconds()), "runId": run_id, "state": state,
            "durationMs": int((time.monotonic() - started) * 1000), "message": message,
            "next": iso_utc(following), "paused": pause is not None,
        })

    def _emit(self, record: dict[str, Any]) -> dict[str, Any]:
        self.records.append(record)
        self.log(record)
        return record

    def _sleep_seconds(self) -> float:
        """Until the earliest next fire, but never longer than ``max_sleep`` (to see other replicas)."""
        now = self.clock.now()
        states = self.store.all()
        upcoming = [
            st.next_fire for spec in self.specs()
            if (st := states.get(spec.name)) is not None and not st.paused and st.next_fire is not None
        ]
        if not upcoming:
            return self.max_sleep
        wait = (min(upcoming) - now).total_seconds()
        if wait <= 0:  # due but not ours to run yet (the mapping runs elsewhere): do not spin
            wait = _BUSY_POLL_SECONDS
        return min(wait, self.max_sleep)
