"""Quartz cron, the schedule language of identity platforms: parse, next fire times, words, lint.

A language at the bottom layer, like `controller.filters`: `config` validates with it, `scheduler`
fires with it. Pure: no I/O, no clock reads (times are passed in).
"""

from controller.cron._quartz import CronExpression, describe, lint, parse_cron, resolve_zone

__all__ = ["CronExpression", "describe", "lint", "parse_cron", "resolve_zone"]
