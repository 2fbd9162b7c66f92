"""Schedules that fire while the emulator runs: ``config/schedule/<name>`` with a Quartz ``cron``.

A background thread wakes at the next fire time of every enabled cron schedule (re-read from config
at least twice a second, so a PUT takes effect at once) and runs its job on a thread of its own:
``invokeService: sync`` reconciles ``invokeContext.mapping``, ``provisioner`` runs liveSync of
``invokeContext.source``. With ``concurrentExecution: false`` (the default) a fire that finds the
previous run of the same schedule still going is skipped, as Quartz's non-concurrent jobs are.
"""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controller.emulator.aic._cron import CronError, QuartzCron

__all__ = ["Job", "Scheduler", "job_view"]

_SERVICES = {"sync": "org.forgerock.openidm.sync", "provisioner": "org.forgerock.openidm.provisioner"}


@dataclass
class Job:
    """What the scheduler knows of one schedule between fires."""

    name: str
    cron_text: str = ""
    next_fire: dt.datetime | None = None
    previous_fire: dt.datetime | None = None
    running: bool = False
    fired: int = 0
    skipped: int = 0
    last_result: dict[str, Any] = field(default_factory=dict)


def _zone(config: dict[str, Any]) -> dt.tzinfo:
    name = config.get("timeZone")
    if isinstance(name, str) and name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return dt.UTC
    return dt.UTC


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _bound(config: dict[str, Any], key: str) -> dt.datetime | None:
    value = config.get(key)
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def next_fire(config: dict[str, Any], after: dt.datetime) -> dt.datetime | None:
    """The schedule's next fire time after ``after``, or None (disabled, not cron, invalid, past endTime)."""
    if config.get("enabled") is False or config.get("type", "cron") != "cron":
        return None
    try:
        cron = QuartzCron.parse(str(config.get("schedule") or ""))
    except CronError:
        return None
    start = _bound(config, "startTime")
    base = max(after, start - dt.timedelta(seconds=1)) if start else after
    moment = cron.next_after(base.astimezone(_zone(config)))
    end = _bound(config, "endTime")
    return None if moment is None or (end is not None and moment > end) else moment


def job_view(name: str, config: dict[str, Any], job: Job | None) -> dict[str, Any]:
    """``scheduler/job/<name>`` as IDM answers it: the schedule, its trigger and ``nextRunDate``."""
    view = {k: v for k, v in config.items() if k != "_id"}
    service = str(config.get("invokeService") or "")
    nxt = job.next_fire if job else None
    return {"_id": name, **view, "invokeService": _SERVICES.get(service, service),
            "concurrentExecution": bool(config.get("concurrentExecution", False)),
            "triggers": [{"_id": f"trigger-{name}", "nextFireTime": _iso(nxt),
                          "previousFireTime": _iso(job.previous_fire if job else None),
                          "state": "NORMAL" if config.get("enabled", True) is not False else "PAUSED"}],
            "nextRunDate": _iso(nxt), "fired": job.fired if job else 0, "skipped": job.skipped if job else 0,
            "running": job.running if job else False}


class Scheduler:
    """Fires ``schedules()`` on their cron; ``invoke(config)`` runs one job (on the caller's thread)."""

    def __init__(self, schedules: Callable[[], dict[str, dict[str, Any]]],
                 invoke: Callable[[dict[str, Any]], dict[str, Any]], log: Callable[[str], None] | None = None) -> None:
        self._schedules, self._invoke, self._log = schedules, invoke, log
        self.lock = threading.Lock()
        self.jobs: dict[str, Job] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="aic-emulator-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def refresh(self, now: dt.datetime) -> dict[str, dict[str, Any]]:
        """Bring the jobs in line with the config (new, changed, removed schedules)."""
        configs = self._schedules()
        with self.lock:
            for name in list(self.jobs):
                if name not in configs and not self.jobs[name].running:
                    del self.jobs[name]
            for name, config in configs.items():
                job = self.jobs.setdefault(name, Job(name))
                text = f"{config.get('enabled')}|{config.get('type')}|{config.get('schedule')}|" \
                       f"{config.get('timeZone')}|{config.get('startTime')}|{config.get('endTime')}"
                if job.cron_text != text:
                    job.cron_text, job.next_fire = text, next_fire(config, now)
        return configs

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = dt.datetime.now(dt.UTC)
            configs = self.refresh(now)
            due: list[tuple[str, dict[str, Any]]] = []
            with self.lock:
                for name, job in self.jobs.items():
                    if job.next_fire is not None and job.next_fire <= now and name in configs:
                        due.append((name, configs[name]))
                        job.previous_fire = job.next_fire
                        job.next_fire = next_fire(configs[name], now)
                wake = min((j.next_fire for j in self.jobs.values() if j.next_fire), default=None)
            for name, config in due:
                self.fire(name, config)
            pause = 0.5 if wake is None else max(0.01, min(0.5, (wake - dt.datetime.now(dt.UTC)).total_seconds()))
            self._stop.wait(pause)

    def fire(self, name: str, config: dict[str, Any]) -> bool:
        """Run the job on a thread of its own; False when skipped (one runs and concurrentExecution is off)."""
        with self.lock:
            job = self.jobs.setdefault(name, Job(name))
            if job.running and not config.get("concurrentExecution", False):
                job.skipped += 1
                return False
            job.running = True
            job.fired += 1
        threading.Thread(target=self._run, args=(job, config), name=f"aic-schedule-{name}", daemon=True).start()
        return True

    def _run(self, job: Job, config: dict[str, Any]) -> None:
        try:
            result = self._invoke(config)
        except Exception as exc:  # a job's failure must not stop the scheduler  # noqa: BLE001
            result = {"error": str(exc) or type(exc).__name__}
        with self.lock:
            job.running = False
            job.last_result = result
        if self._log is not None and "error" in result:
            self._log(f"schedule {job.name}: {result['error']}")
