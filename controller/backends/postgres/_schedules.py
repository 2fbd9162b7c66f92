"""Schedule state in the PostgreSQL backend: fire times, the last run's result, pauses and the per-mapping
run claim, shared by every scheduler replica on every host.

Nothing here reads, decides in Python, then writes unguarded. A fire is claimed by
``UPDATE ... WHERE name = $1 AND next_fire = $expected`` (under READ COMMITTED a second updater waits
for the first, re-reads the row and updates nothing), and the mapping's run claim is taken in the same
transaction with the row locked ``FOR UPDATE`` or inserted ``ON CONFLICT DO NOTHING``; when the mapping
is busy the whole claim rolls back and the fire stays due.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from controller.backends._process import pid_alive
from controller.backends._protocol import Claim, RunClaim, ScheduleState, iso_utc
from controller.backends.postgres._database import Database

__all__ = ["PostgresScheduleState"]

_COLUMNS = ("name, mapping, cron, time_zone, next_fire, last_fire, last_run_id, last_run_state, "
            "last_run_ended, last_message, paused, paused_reason, paused_at")


def _second(moment: datetime | None) -> datetime | None:
    """Whole seconds, as the SQLite backend keeps them (a fire time is a cron second)."""
    return None if moment is None else moment.astimezone(UTC).replace(microsecond=0)


def _aware(value: Any) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _row(row: tuple[Any, ...]) -> ScheduleState:
    (name, mapping, cron, tz, next_fire, last_fire, run_id, run_state, run_ended, message,
     paused, paused_reason, paused_at) = row
    return ScheduleState(name, mapping, cron, tz, _aware(next_fire), _aware(last_fire), run_id, run_state,
                         _aware(run_ended), message, bool(paused), paused_reason, _aware(paused_at))


class _Busy(Exception):
    """Rolls a claim back: the mapping's run is in flight elsewhere."""


class PostgresScheduleState:
    """Schedule state over the backend's pool."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # --- reading -----------------------------------------------------------------------------------

    def get(self, name: str) -> ScheduleState | None:
        with self._db.transaction() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM schedule_state WHERE name = %s", (name,)).fetchone()
        return None if row is None else _row(row)

    def all(self) -> dict[str, ScheduleState]:
        with self._db.transaction() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM schedule_state ORDER BY name").fetchall()
        return {r[0]: _row(r) for r in rows}

    def running(self) -> dict[str, RunClaim]:
        """Mapping -> the claim of its run in flight (expired claims included)."""
        with self._db.transaction() as conn:
            rows = conn.execute("SELECT mapping, schedule, holder, pid, host, started, expires FROM schedule_runs"
                                ).fetchall()
        return {r[0]: RunClaim(r[0], r[1], r[2], r[3], r[4], iso_utc(r[5]) or "", iso_utc(r[6]) or "")
                for r in rows}

    # --- writing -----------------------------------------------------------------------------------

    def ensure(self, name: str, mapping: str, cron: str, time_zone: str, next_fire: datetime | None,
               now: datetime) -> ScheduleState:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO schedule_state (name, mapping, cron, time_zone, next_fire, updated) "
                "VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, time_zone = excluded.time_zone, "
                "  next_fire = excluded.next_fire, mapping = excluded.mapping, updated = excluded.updated "
                "WHERE schedule_state.cron <> excluded.cron OR schedule_state.time_zone <> excluded.time_zone "
                "   OR schedule_state.mapping <> excluded.mapping",
                (name, mapping, cron, time_zone, _second(next_fire), _second(now)),
            )
            state = conn.execute(f"SELECT {_COLUMNS} FROM schedule_state WHERE name = %s", (name,)).fetchone()
        assert state is not None
        return _row(state)

    def skip(self, name: str, expected: datetime, next_fire: datetime | None, now: datetime) -> bool:
        with self._db.transaction() as conn:
            return conn.execute(
                "UPDATE schedule_state SET next_fire = %s, updated = %s WHERE name = %s AND next_fire = %s",
                (_second(next_fire), _second(now), name, _second(expected)),
            ).rowcount == 1

    def claim(self, name: str, mapping: str, expected: datetime, next_fire: datetime | None,
              holder: str, now: datetime, lease_seconds: float) -> Claim:
        """Claim the fire due at ``expected`` and the mapping's run, atomically (see the module docstring)."""
        at = _second(now)
        assert at is not None
        expires = now.astimezone(UTC) + timedelta(seconds=lease_seconds)
        try:
            with self._db.transaction() as conn:
                won = conn.execute(
                    "UPDATE schedule_state SET next_fire = %s, last_fire = %s, updated = %s "
                    "WHERE name = %s AND next_fire = %s",
                    (_second(next_fire), _second(expected), at, name, _second(expected))).rowcount == 1
                if not won:
                    return "taken"
                run = conn.execute("SELECT holder, pid, host, expires FROM schedule_runs WHERE mapping = %s "
                                   "FOR UPDATE", (mapping,)).fetchone()
                values = {"mapping": mapping, "schedule": name, "holder": holder, "pid": os.getpid(),
                          "host": socket.gethostname(), "started": at, "expires": expires}
                if run is None:
                    inserted = conn.execute(
                        "INSERT INTO schedule_runs (mapping, schedule, holder, pid, host, started, expires) "
                        "VALUES (%(mapping)s, %(schedule)s, %(holder)s, %(pid)s, %(host)s, %(started)s, "
                        "%(expires)s) ON CONFLICT (mapping) DO NOTHING", values).rowcount
                    if inserted != 1:  # another replica's claim of this mapping committed meanwhile
                        raise _Busy
                elif self._stale(run, now):
                    conn.execute(
                        "UPDATE schedule_runs SET schedule = %(schedule)s, holder = %(holder)s, pid = %(pid)s, "
                        "host = %(host)s, started = %(started)s, expires = %(expires)s WHERE mapping = %(mapping)s",
                        values)
                else:
                    raise _Busy
                return "claimed"
        except _Busy:
            return "busy"

    @staticmethod
    def _stale(run: tuple[Any, ...], now: datetime) -> bool:
        _holder, pid, host, expires = run
        if expires is None or expires <= now:
            return True
        return bool(host == socket.gethostname() and not pid_alive(pid))

    def finish(self, name: str, mapping: str, holder: str, *, run_id: str | None, state: str,
               message: str | None, now: datetime, pause_reason: str | None = None) -> None:
        at = _second(now)
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE schedule_state SET last_run_id = %s, last_run_state = %s, last_run_ended = %s, "
                "last_message = %s, updated = %s WHERE name = %s", (run_id, state, at, message, at, name))
            if pause_reason is not None:
                conn.execute("UPDATE schedule_state SET paused = true, paused_reason = %s, paused_at = %s "
                             "WHERE name = %s", (pause_reason, at, name))
            conn.execute("DELETE FROM schedule_runs WHERE mapping = %s AND holder = %s", (mapping, holder))

    def pause(self, name: str, reason: str, now: datetime) -> bool:
        at = _second(now)
        with self._db.transaction() as conn:
            cur = conn.execute("UPDATE schedule_state SET paused = true, paused_reason = %s, paused_at = %s, "
                               "updated = %s WHERE name = %s", (reason, at, at, name))
            return cur.rowcount == 1

    def resume(self, name: str, now: datetime) -> bool:
        at = _second(now)
        with self._db.transaction() as conn:
            cur = conn.execute("UPDATE schedule_state SET paused = false, paused_reason = NULL, paused_at = NULL, "
                               "updated = %s WHERE name = %s AND paused", (at, name))
            return cur.rowcount == 1

    def resume_mapping(self, mapping: str, now: datetime | None = None) -> list[str]:
        at = _second(now or datetime.now(UTC))
        with self._db.transaction() as conn:
            rows = conn.execute(
                "UPDATE schedule_state SET paused = false, paused_reason = NULL, paused_at = NULL, updated = %s "
                "WHERE mapping = %s AND paused RETURNING name", (at, mapping)).fetchall()
        return sorted(r[0] for r in rows)
