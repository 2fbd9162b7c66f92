"""Schedule state in the SQLite backend: next and last fire times, the last run's result, pauses, and the
per-mapping run claim, in the environment's SQLite file.

Replicas of the scheduler share this state. A fire is claimed by compare-and-set on ``next_fire``
(only the replica whose UPDATE still sees the old value runs it), and a mapping's run by inserting its
``schedule_runs`` row, so no fire runs twice and no mapping runs twice at once.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from datetime import UTC, datetime
from typing import Any

from controller.backends._process import pid_alive
from controller.backends._protocol import Claim, RunClaim, ScheduleState, iso_utc
from controller.backends.sqlite._database import transaction

__all__ = ["SqliteScheduleState"]


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


_COLUMNS = ("name, mapping, cron, time_zone, next_fire, last_fire, last_run_id, last_run_state, "
            "last_run_ended, last_message, paused, paused_reason, paused_at")


def _row(row: tuple[Any, ...]) -> ScheduleState:
    (name, mapping, cron, tz, next_fire, last_fire, run_id, run_state, run_ended, message,
     paused, paused_reason, paused_at) = row
    return ScheduleState(name, mapping, cron, tz, _parse(next_fire), _parse(last_fire), run_id, run_state,
                         _parse(run_ended), message, bool(paused), paused_reason, _parse(paused_at))


class SqliteScheduleState:
    """Schedule state over the backend's SQLite connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # --- reading -----------------------------------------------------------------------------------

    def get(self, name: str) -> ScheduleState | None:
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM schedule_state WHERE name = ?", (name,)).fetchone()
        return None if row is None else _row(row)

    def all(self) -> dict[str, ScheduleState]:
        rows = self._conn.execute(f"SELECT {_COLUMNS} FROM schedule_state ORDER BY name").fetchall()
        return {r[0]: _row(r) for r in rows}

    def running(self) -> dict[str, RunClaim]:
        """Mapping -> the claim of its run in flight (expired claims included)."""
        rows = self._conn.execute(
            "SELECT mapping, schedule, holder, pid, host, started, expires FROM schedule_runs").fetchall()
        return {row[0]: RunClaim(*row) for row in rows}

    # --- writing -----------------------------------------------------------------------------------

    def ensure(self, name: str, mapping: str, cron: str, time_zone: str, next_fire: datetime | None,
               now: datetime) -> ScheduleState:
        """The schedule's row, created with ``next_fire`` when new or when its cron or zone changed."""
        with transaction(self._conn) as conn:
            conn.execute(
                "INSERT INTO schedule_state (name, mapping, cron, time_zone, next_fire, updated) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, time_zone = excluded.time_zone, "
                "  next_fire = excluded.next_fire, mapping = excluded.mapping, updated = excluded.updated "
                "WHERE schedule_state.cron != excluded.cron OR schedule_state.time_zone != excluded.time_zone "
                "   OR schedule_state.mapping != excluded.mapping",
                (name, mapping, cron, time_zone, iso_utc(next_fire), iso_utc(now)),
            )
        state = self.get(name)
        assert state is not None
        return state

    def skip(self, name: str, expected: datetime, next_fire: datetime | None, now: datetime) -> bool:
        """Move a misfired schedule on without running it (doNothing); False if another replica did."""
        with transaction(self._conn) as conn:
            return conn.execute(
                "UPDATE schedule_state SET next_fire = ?, updated = ? WHERE name = ? AND next_fire = ?",
                (iso_utc(next_fire), iso_utc(now), name, iso_utc(expected)),
            ).rowcount == 1

    def claim(self, name: str, mapping: str, expected: datetime, next_fire: datetime | None,
              holder: str, now: datetime, lease_seconds: float) -> Claim:
        """Claim the fire due at ``expected`` and the mapping's run, atomically.

        ``taken``: another replica claimed this fire. ``busy``: a run of the mapping is in flight (the
        fire stays due and is tried again). ``claimed``: ours; ``next_fire`` moved on.
        """
        expires = now.timestamp() + lease_seconds
        with transaction(self._conn) as conn:
            current = conn.execute("SELECT next_fire FROM schedule_state WHERE name = ?", (name,)).fetchone()
            if current is None or current[0] != iso_utc(expected):
                return "taken"
            run = conn.execute("SELECT holder, pid, host, expires FROM schedule_runs WHERE mapping = ?",
                               (mapping,)).fetchone()
            if run is not None and not self._stale(run, now):
                return "busy"
            conn.execute(
                "UPDATE schedule_state SET next_fire = ?, last_fire = ?, updated = ? WHERE name = ?",
                (iso_utc(next_fire), iso_utc(expected), iso_utc(now), name),
            )
            conn.execute(
                "INSERT OR REPLACE INTO schedule_runs (mapping, schedule, holder, pid, host, started, expires) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (mapping, name, holder, os.getpid(), socket.gethostname(), iso_utc(now),
                 iso_utc(datetime.fromtimestamp(expires, UTC))),
            )
            return "claimed"

    @staticmethod
    def _stale(run: tuple[Any, ...], now: datetime) -> bool:
        _holder, pid, host, expires = run
        ends = _parse(expires)
        if ends is None or ends <= now:
            return True
        # A holder on this host whose process is gone will never release its claim.
        return host == socket.gethostname() and not pid_alive(pid)

    def finish(self, name: str, mapping: str, holder: str, *, run_id: str | None, state: str,
               message: str | None, now: datetime, pause_reason: str | None = None) -> None:
        """Record the run's result, pause the schedule when asked, and release the mapping's claim."""
        with transaction(self._conn) as conn:
            conn.execute(
                "UPDATE schedule_state SET last_run_id = ?, last_run_state = ?, last_run_ended = ?, "
                "last_message = ?, updated = ? WHERE name = ?",
                (run_id, state, iso_utc(now), message, iso_utc(now), name),
            )
            if pause_reason is not None:
                conn.execute(
                    "UPDATE schedule_state SET paused = 1, paused_reason = ?, paused_at = ? WHERE name = ?",
                    (pause_reason, iso_utc(now), name),
                )
            conn.execute("DELETE FROM schedule_runs WHERE mapping = ? AND holder = ?", (mapping, holder))

    def resume_mapping(self, mapping: str, now: datetime | None = None) -> list[str]:
        """Unpause every schedule of ``mapping`` (after a person reran it with an override); their names."""
        stamp = iso_utc(now or datetime.now(UTC))
        with transaction(self._conn) as conn:
            names = [r[0] for r in conn.execute(
                "SELECT name FROM schedule_state WHERE mapping = ? AND paused = 1", (mapping,))]
            conn.execute(
                "UPDATE schedule_state SET paused = 0, paused_reason = NULL, paused_at = NULL, updated = ? "
                "WHERE mapping = ? AND paused = 1", (stamp, mapping))
        return names

    def pause(self, name: str, reason: str, now: datetime) -> bool:
        with transaction(self._conn) as conn:
            return conn.execute(
                "UPDATE schedule_state SET paused = 1, paused_reason = ?, paused_at = ?, updated = ? WHERE name = ?",
                (reason, iso_utc(now), iso_utc(now), name)).rowcount == 1

    def resume(self, name: str, now: datetime) -> bool:
        with transaction(self._conn) as conn:
            return conn.execute(
                "UPDATE schedule_state SET paused = 0, paused_reason = NULL, paused_at = NULL, updated = ? "
                "WHERE name = ? AND paused = 1", (iso_utc(now), name)).rowcount == 1
