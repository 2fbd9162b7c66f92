"""Schedules: the scheduler loop that fires applied schedules (Quartz cron from `controller.cron`)."""

from controller.scheduler._loop import Clock, Schedule, Scheduler, SystemClock
from controller.scheduler._service import preview_cron, preview_schedule, schedule_status, serve

__all__ = [
    "Clock",
    "Schedule",
    "Scheduler",
    "SystemClock",
    "preview_cron",
    "preview_schedule",
    "schedule_status",
    "serve",
]
