"""Schedules: the scheduler loop that fires applied schedules (Quartz cron from `controller.cron`)."""

from controller.scheduler._loop import Clock, OverrideCheck, Runner, Schedule, Scheduler, SystemClock
from controller.scheduler._service import SCHEDULED_LOCK_TIMEOUT, preview_cron, schedule_preview, schedule_report

__all__ = [
    "SCHEDULED_LOCK_TIMEOUT",
    "Clock",
    "OverrideCheck",
    "Runner",
    "Schedule",
    "Scheduler",
    "SystemClock",
    "preview_cron",
    "schedule_preview",
    "schedule_report",
]
