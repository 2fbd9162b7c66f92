"""Schedules: Quartz cron expressions (parse, next fire times, words, lint) and the scheduler loop."""

from controller.scheduler._loop import Clock, Schedule, Scheduler, SystemClock
from controller.scheduler._quartz import CronExpression, describe, lint, parse_cron, resolve_zone
from controller.scheduler._service import preview_cron, preview_schedule, schedule_status, serve

__all__ = [
    "Clock",
    "CronExpression",
    "Schedule",
    "Scheduler",
    "SystemClock",
    "describe",
    "lint",
    "parse_cron",
    "preview_cron",
    "preview_schedule",
    "resolve_zone",
    "schedule_status",
    "serve",
]
