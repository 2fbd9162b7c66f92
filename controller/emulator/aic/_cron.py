"""A small Quartz cron matcher for the emulator's scheduler (the product's own parser is not shared).

Six or seven fields, seconds first: ``sec min hour day-of-month month day-of-week [year]``. Each takes
``*``, a value, a range ``a-b``, a list ``a,b``, a step ``a/n``, ``*/n`` or ``a-b/n``; months ``JAN``-``DEC``
and days ``SUN``-``SAT`` (1 = Sunday, as Quartz); ``?`` in exactly one of day-of-month and day-of-week;
``L`` (last day of the month), ``nL`` (the last weekday n of the month) and ``n#k`` (the k-th weekday n).
``W`` is refused (not implemented here).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

__all__ = ["CronError", "QuartzCron"]

_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {d: i + 1 for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
_RANGES = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (1, 7), (1970, 2099))
_NAMES = ("seconds", "minutes", "hours", "day-of-month", "month", "day-of-week", "year")


class CronError(ValueError):
    """Not a Quartz cron expression (the message says which field and why)."""


def _value(text: str, index: int) -> int:
    names = _MONTHS if index == 4 else _DAYS if index == 5 else {}
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise CronError(f"{_NAMES[index]}: {text!r} is not a value")
    low, high = _RANGES[index]
    number = int(text)
    if not low <= number <= high:
        raise CronError(f"{_NAMES[index]}: {number} is outside {low}-{high}")
    return number


def _field(text: str, index: int) -> frozenset[int]:
    low, high = _RANGES[index]
    out: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronError(f"{_NAMES[index]}: step {step_text!r} is not a positive number")
            step = int(step_text)
        if base in ("*", ""):
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _value(a, index), _value(b, index)
        else:
            start = _value(base, index)
            end = high if slash else start
        if end < start:
            raise CronError(f"{_NAMES[index]}: range {base!r} runs backwards")
        out.update(range(start, end + 1, step))
    return frozenset(out)


@dataclass(frozen=True)
class QuartzCron:
    """A parsed expression; ``next_after(t)`` is the first fire time strictly after ``t`` (in t's zone)."""

    text: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int] | None
    dom: frozenset[int] | None  # None: "?"
    dom_last: bool
    dow: frozenset[int] | None  # None: "?"
    dow_last: int | None  # "nL"
    dow_nth: tuple[int, int] | None  # "n#k"

    @classmethod
    def parse(cls, text: str) -> QuartzCron:
        fields = text.split()
        if len(fields) not in (6, 7):
            raise CronError(f"{text!r} has {len(fields)} fields; Quartz needs 6 or 7 (seconds first)")
        if (fields[3] == "?") == (fields[5] == "?"):
            raise CronError("exactly one of day-of-month and day-of-week must be '?'")
        for i, f in enumerate(fields):
            if "?" in f and (i not in (3, 5) or f != "?"):
                raise CronError(f"{_NAMES[i]}: '?' is only allowed alone in day-of-month or day-of-week")
            if "W" in f.upper() and i == 3:
                raise CronError("day-of-month: 'W' is not supported by the emulator's scheduler")
        dom_text, dow_text = fields[3].upper(), fields[5].upper()
        dom_last = dom_text == "L"
        dom = None if dom_text == "?" else frozenset() if dom_last else _field(dom_text, 3)
        dow_last: int | None = None
        dow_nth: tuple[int, int] | None = None
        dow: frozenset[int] | None = None
        if dow_text.endswith("L") and dow_text != "L":
            dow_last = _value(dow_text[:-1], 5)
        elif "#" in dow_text:
            day, _, nth = dow_text.partition("#")
            if not nth.isdigit() or not 1 <= int(nth) <= 5:
                raise CronError(f"day-of-week: {dow_text!r}: '#' takes 1-5")
            dow_nth = (_value(day, 5), int(nth))
        elif dow_text == "L":
            dow = frozenset({7})
        elif dow_text != "?":
            dow = _field(dow_text, 5)
        return cls(text=text, seconds=_field(fields[0], 0), minutes=_field(fields[1], 1), hours=_field(fields[2], 2),
                   months=_field(fields[4], 4), years=_field(fields[6], 6) if len(fields) == 7 else None,
                   dom=dom, dom_last=dom_last, dow=dow, dow_last=dow_last, dow_nth=dow_nth)

    def _day_matches(self, day: dt.date) -> bool:
        if day.month not in self.months or (self.years is not None and day.year not in self.years):
            return False
        last = calendar.monthrange(day.year, day.month)[1]
        if self.dom is not None or self.dom_last:
            return day.day == last if self.dom_last else day.day in (self.dom or ())
        quartz_dow = (day.isoweekday() % 7) + 1  # Monday=1 (ISO) -> 2 (Quartz), Sunday=7 -> 1
        if self.dow_last is not None:
            return quartz_dow == self.dow_last and day.day + 7 > last
        if self.dow_nth is not None:
            return quartz_dow == self.dow_nth[0] and (day.day - 1) // 7 + 1 == self.dow_nth[1]
        return quartz_dow in (self.dow or ())

    def next_after(self, after: dt.datetime) -> dt.datetime | None:
        """The first fire time after ``after`` (an aware datetime), within about five years, else None."""
        start = after.replace(microsecond=0) + dt.timedelta(seconds=1)
        times = sorted((h, m, s) for h in self.hours for m in self.minutes for s in self.seconds)
        day = start.date()
        for _ in range(366 * 5):
            if self._day_matches(day):
                floor = (start.hour, start.minute, start.second) if day == start.date() else (0, 0, 0)
                for h, m, s in times:
                    if (h, m, s) >= floor:
                        return dt.datetime(day.year, day.month, day.day, h, m, s, tzinfo=after.tzinfo)
            day += dt.timedelta(days=1)
        return None
