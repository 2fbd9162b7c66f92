"""Quartz cron expressions: the parser, the fire-time evaluator, the description in words and the lint.

Quartz is what PingIDM / Advanced Identity Cloud schedules speak: 6 or 7 fields, seconds first, an
optional year, ``?`` in exactly one of day-of-month and day-of-week, days of the week numbered
1 = SUN .. 7 = SAT, and the specials ``L``, ``W``, ``LW``, ``L-n`` and ``#``. As in Quartz master, a
day-of-month list may mix plain days with ``nW``, ``L``, ``L-n``, ``LW`` and ``L-nW`` (``1,L``,
``L-1W,L-1``, ``2W,16``), and years run from 1970 to 2199.

Time zones follow what Quartz's ``CronExpression.getTimeAfter`` does on a ``java.util.GregorianCalendar``:

* spring forward: a wall time that does not exist that day (02:30 in Europe/Berlin on the last Sunday
  of March) is skipped — ``setCalendarHour`` moves the calendar to the next hour, the hour no longer
  matches and the search goes on; an hourly expression fires at the next wall time that exists.
* fall back: each wall time fires once. Quartz resolves an ambiguous wall time the way the JDK calendar
  does, as *standard* time, so the fire is at the second occurrence (01:30 EST, not 01:30 EDT, in
  America/New_York). We do the same so that a schedule fires here when it would fire in IDM.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from controller.errors import CronSyntaxError, UsageError

__all__ = [
    "CronExpression",
    "describe",
    "lint",
    "parse_cron",
    "resolve_zone",
]

MIN_YEAR = 1970
MAX_YEAR = 2199  # the range Quartz master documents for the year field

SECOND, MINUTE, HOUR, DOM, MONTH, DOW, YEAR = range(7)
FIELD_NAMES = ("second", "minute", "hour", "day-of-month", "month", "day-of-week", "year")
_BOUNDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (1, 7), (MIN_YEAR, MAX_YEAR))
# Quartz's checkIncrementRange: the largest step each field accepts (the year has none).
_MAX_STEP = (59, 59, 23, 31, 12, 7, MAX_YEAR - MIN_YEAR)

MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTH_WORDS = tuple(calendar.month_name[1:])
_DAY_WORDS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_ORDINALS = ("first", "second", "third", "fourth", "fifth")

_ONE_SECOND = timedelta(seconds=1)
_LAST_DOM = re.compile(r"^L(?:-(\d+))?(W)?$")
_NEAREST_WEEKDAY = re.compile(r"^(\d+)W$")
_DOW_TOKEN = r"(\d+|[A-Z]{3})"
_LAST_DOW = re.compile(rf"^{_DOW_TOKEN}L$")
_NTH_DOW = re.compile(rf"^{_DOW_TOKEN}#(.*)$")
_PART = re.compile(r"^(?P<start>\*|[0-9]+|[A-Z]+)(?:-(?P<end>[0-9]+|[A-Z]+))?(?:/(?P<step>.*))?$")


def resolve_zone(tz: ZoneInfo | str) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name (``UTC``, ``Europe/Berlin``); raises ``UsageError`` if unknown."""
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"unknown time zone {tz!r}",
            hint="Use an IANA name such as UTC, Europe/Berlin or America/New_York",
        ) from None


@dataclass(frozen=True, slots=True)
class CronExpression:
    """A parsed Quartz cron expression: the value sets of each field plus the day specials.

    ``fields`` keeps the normalised text of all seven fields (the year is ``*`` when omitted); the
    sorted tuples hold the values that match. Exactly one of the day fields is ``?``.
    """

    expression: str
    fields: tuple[str, ...]
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...]
    days_of_month: tuple[int, ...] = ()      # plain day-of-month values (when day-of-week is ?)
    last_day_offsets: tuple[int, ...] = ()   # L (0) and L-n (n)
    nearest_weekdays: tuple[int, ...] = ()   # n of nW
    last_weekday_offsets: tuple[int, ...] = ()  # LW (0) and L-nW (n)
    days_of_week: tuple[int, ...] = ()       # 1 = SUN .. 7 = SAT (when day-of-month is ?)
    last_weekday_of_month: bool = False      # 6L: the last Friday
    nth_weekday: int = 0                     # 6#3: the third Friday
    _day_cache: dict[tuple[int, int], tuple[int, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __str__(self) -> str:
        return self.expression

    @property
    def uses_day_of_week(self) -> bool:
        return self.fields[DOM] == "?"

    # -- evaluation ---------------------------------------------------------------------------

    def next_fire(self, after: datetime, tz: ZoneInfo | str = "UTC") -> datetime | None:
        """The first fire time strictly after ``after`` (aware), in ``tz``; None if it never fires again."""
        if after.tzinfo is None:
            raise ValueError("next_fire needs an aware datetime (with a tzinfo), got a naive one")
        zone = resolve_zone(tz)
        wall = after.astimezone(zone).replace(tzinfo=None, microsecond=0, fold=0) + _ONE_SECOND
        while True:
            candidate = self._next_wall(wall)
            if candidate is None:
                return None
            # fold=1: an ambiguous wall time is the later (standard-time) instant, as in Quartz.
            instant = candidate.replace(tzinfo=zone, fold=1).astimezone(UTC)
            local = instant.astimezone(zone)
            if local.replace(tzinfo=None) != candidate:
                # The wall time does not exist that day (spring forward): Quartz skips it.
                wall = candidate + _ONE_SECOND
                continue
            if instant <= after:
                wall = candidate + _ONE_SECOND
                continue
            return local

    def fire_times(self, after: datetime, tz: ZoneInfo | str = "UTC", count: int = 5) -> list[datetime]:
        """Up to ``count`` fire times after ``after``, in ``tz`` (fewer when the expression runs out)."""
        return list(self.iter_fire_times(after, tz, count))

    def iter_fire_times(
        self, after: datetime, tz: ZoneInfo | str = "UTC", count: int | None = None
    ) -> Iterator[datetime]:
        zone = resolve_zone(tz)
        produced = 0
        while count is None or produced < count:
            nxt = self.next_fire(after, zone)
            if nxt is None:
                return
            yield nxt
            produced += 1
            after = nxt

    def matches(self, moment: datetime, tz: ZoneInfo | str = "UTC") -> bool:
        """True when ``moment`` (aware) falls in a fire second in ``tz``.

        A fraction of a second is dropped first, as Quartz's ``isSatisfiedBy`` does: 10:00:00.000001
        matches ``0 0 10 * * ?``.
        """
        whole = moment.replace(microsecond=0)
        return self.next_fire(whole - _ONE_SECOND, tz) == whole

    def _next_wall(self, start: datetime) -> datetime | None:
        """The first naive wall time at or after ``start`` that matches every field."""
        y, mo, d, h, mi, s = start.year, start.month, start.day, start.hour, start.minute, start.second
        years, months, hours = self.years, self.months, self.hours
        minutes, seconds = self.minutes, self.seconds
        while True:
            i = bisect_left(years, y)
            if i == len(years):
                return None
            if years[i] != y:
                y, mo, d, h, mi, s = years[i], 1, 1, 0, 0, 0
            i = bisect_left(months, mo)
            if i == len(months):
                y, mo, d, h, mi, s = y + 1, 1, 1, 0, 0, 0
                continue
            if months[i] != mo:
                mo, d, h, mi, s = months[i], 1, 0, 0, 0
            days = self._days(y, mo)
            i = bisect_left(days, d)
            if i == len(days):
                mo, d, h, mi, s = mo + 1, 1, 0, 0, 0
                if mo > 12:
                    y, mo = y + 1, 1
                continue
            if days[i] != d:
                d, h, mi, s = days[i], 0, 0, 0
            # Overflows (hour 24, minute 60, day 32) fall through to the next bisect and carry.
            i = bisect_left(hours, h)
            if i == len(hours):
                d, h, mi, s = d + 1, 0, 0, 0
                continue
            if hours[i] != h:
                h, mi, s = hours[i], 0, 0
            i = bisect_left(minutes, mi)
            if i == len(minutes):
                h, mi, s = h + 1, 0, 0
                continue
            if minutes[i] != mi:
                mi, s = minutes[i], 0
            i = bisect_left(seconds, s)
            if i == len(seconds):
                mi, s = mi + 1, 0
                continue
            return datetime(y, mo, d, h, mi, seconds[i])

    def _days(self, year: int, month: int) -> tuple[int, ...]:
        key = (year, month)
        days = self._day_cache.get(key)
        if days is None:
            days = self._compute_days(year, month)
            if len(self._day_cache) > 512:
                self._day_cache.clear()
            self._day_cache[key] = days
        return days

    def _compute_days(self, year: int, month: int) -> tuple[int, ...]:
        first_weekday, last = calendar.monthrange(year, month)
        # Python numbers Monday 0 .. Sunday 6; Quartz numbers Sunday 1 .. Saturday 7.
        first_dow = (first_weekday + 1) % 7 + 1
        if not self.uses_day_of_week:
            days = {d for d in self.days_of_month if d <= last}
            days.update(last - n for n in self.last_day_offsets if last - n >= 1)
            # nW past the month's end (30W in February, 31W in April): Quartz 2.3.2, which IDM runs, puts
            # day n on a lenient calendar, which rolls it into the next month, and takes the weekday of
            # that rolled date. Only when n is the day after the last one and that rolled day is a
            # Saturday does W step back into the month: it fires on the last day, a Friday. Any other
            # weekday of the rolled date, or n two or more days past the end, leaves the month without
            # a fire. _nearest_weekday computes that weekday the same way, so filtering on `<= last`
            # is the whole rule.
            for n in self.nearest_weekdays:
                day = _nearest_weekday(n, first_dow, last)
                if day <= last:
                    days.add(day)
            for n in self.last_weekday_offsets:
                if last - n >= 1:
                    days.add(_nearest_weekday(last - n, first_dow, last))
            return tuple(sorted(days))
        if self.nth_weekday:
            target = self.days_of_week[0]
            day = 1 + (target - first_dow) % 7 + 7 * (self.nth_weekday - 1)
            return (day,) if day <= last else ()
        if self.last_weekday_of_month:
            target = self.days_of_week[0]
            last_dow = (first_dow - 1 + last - 1) % 7 + 1
            return (last - (last_dow - target) % 7,)
        wanted = set(self.days_of_week)
        return tuple(d for d in range(1, last + 1) if (first_dow - 1 + d - 1) % 7 + 1 in wanted)

    # -- words --------------------------------------------------------------------------------

    def describe(self) -> str:
        """The expression in words: ``at 10:15:00 on the last Friday of every month``."""
        return _Describer(self).text()

    def lint(self, now: datetime | None = None) -> list[str]:
        """Warnings about an expression that is valid but probably not what was meant."""
        return _lint(self, now)


def _nearest_weekday(day: int, first_dow: int, last: int) -> int:
    """Quartz's W: the weekday nearest ``day`` without leaving the month.

    ``day`` may lie past ``last``; its weekday is then that of the date it rolls over to, as on
    Quartz's lenient calendar (see ``_compute_days``).
    """
    dow = (first_dow - 1 + day - 1) % 7 + 1
    if dow == 7:  # Saturday
        return day + 2 if day == 1 else day - 1
    if dow == 1:  # Sunday
        return day - 2 if day == last else day + 1
    return day


# -- parsing ----------------------------------------------------------------------------------


def parse_cron(expr: str) -> CronExpression:
    """Parse a Quartz cron expression; raises ``CronSyntaxError`` naming the field at fault."""
    if not isinstance(expr, str):
        raise CronSyntaxError(f"expected a string, got {type(expr).__name__}", expression=str(expr))
    original = expr
    parts = expr.strip().upper().split()
    if len(parts) == 5:
        raise CronSyntaxError(
            "this is a 5-field Unix cron; Quartz needs 6 or 7 fields with seconds first "
            "(second minute hour day-of-month month day-of-week [year])",
            expression=original,
            hint=f"Write {_suggest_from_unix(parts)!r}",
        )
    if len(parts) not in (6, 7):
        raise CronSyntaxError(
            f"has {len(parts)} fields; Quartz needs 6 or 7: "
            "second minute hour day-of-month month day-of-week [year]",
            expression=original,
            hint="For every 15 minutes write '0 0/15 * * * ?'",
        )
    if len(parts) == 6:
        parts.append("*")
    p = _Parser(original, parts)
    return p.build()


def _suggest_from_unix(parts: list[str]) -> str:
    minute, hour, dom, month, dow = parts
    if dow != "*":
        # Unix numbers days 0/7 = SUN .. 6 = SAT; Quartz 1 = SUN .. 7 = SAT.
        dow = re.sub(r"(?<![/#\d])(\d+)", lambda m: str(int(m.group(1)) % 7 + 1), dow)
        dow = _named_dow(dow) if "/" not in dow else dow
        dom = "?"
    else:
        dow = "?"
    return f"0 {minute} {hour} {dom} {month} {dow}"


class _Parser:
    def __init__(self, expression: str, parts: list[str]) -> None:
        self.expression = expression
        self.parts = parts

    def fail(self, index: int, message: str, hint: str | None = None) -> CronSyntaxError:
        return CronSyntaxError(message, expression=self.expression, field=FIELD_NAMES[index], hint=hint)

    def build(self) -> CronExpression:
        parts = self.parts
        for index, text in enumerate(parts):
            if "?" in text and text != "?":
                raise self.fail(index, f"'?' must stand alone, got {text!r}")
            if text == "?" and index not in (DOM, DOW):
                raise self.fail(index, "'?' is only allowed in day-of-month or day-of-week")
        dom_any, dow_any = parts[DOM] == "?", parts[DOW] == "?"
        if dom_any and dow_any:
            raise self.fail(
                DOW, "'?' is in both day-of-month and day-of-week; exactly one of them must be '?'",
                hint="Use '?' in one day field and '*' or a value in the other, e.g. '0 0 12 * * ?'",
            )
        if not dom_any and not dow_any:
            raise self.fail(
                DOW, "Quartz needs '?' in exactly one of day-of-month and day-of-week "
                f"(got {parts[DOM]!r} and {parts[DOW]!r})",
                hint=f"Write '?' in the day field you do not mean, e.g. "
                f"'{' '.join(parts[:DOW])} ?' or '{' '.join(parts[:DOM])} ? {parts[MONTH]} {parts[DOW]}'",
            )
        kw: dict[str, object] = {}
        kw["seconds"] = self.values(SECOND)
        kw["minutes"] = self.values(MINUTE)
        kw["hours"] = self.values(HOUR)
        kw["months"] = self.values(MONTH)
        kw["years"] = self.values(YEAR)
        if dow_any:
            kw.update(self.day_of_month())
        else:
            kw.update(self.day_of_week())
        normalised = parts if len(self.expression.split()) == 7 else parts[:6]
        return CronExpression(
            expression=" ".join(normalised), fields=tuple(parts), **kw  # type: ignore[arg-type]  # the field sets, built per kind above
        )

    def day_of_month(self) -> dict[str, object]:
        """Day-of-month: a list whose items are days, ranges, steps, nW, L, L-n, LW or L-nW (Quartz master)."""
        text = self.parts[DOM]
        if text == "*":
            return {"days_of_month": self.values(DOM)}
        plain: set[int] = set()
        last: set[int] = set()
        weekdays: set[int] = set()
        last_weekdays: set[int] = set()
        for item in text.split(","):
            if not item:
                raise self.fail(DOM, f"empty item in the list {text!r}")
            m = _LAST_DOM.match(item)
            if m:
                offset = int(m.group(1)) if m.group(1) is not None else 0
                if offset > 30:
                    raise self.fail(DOM, f"the offset of {item!r} must be at most 30 days")
                (last_weekdays if m.group(2) else last).add(offset)
                continue
            if "L" in item:
                raise self.fail(
                    DOM, f"{item!r} is not a valid use of 'L'",
                    hint="Write L (the last day), L-n, LW (the last weekday) or L-nW, alone or in a list "
                    "like 1,L",
                )
            m = _NEAREST_WEEKDAY.match(item)
            if m:
                day = int(m.group(1))
                if not 1 <= day <= 31:
                    raise self.fail(DOM, f"{item!r}: the day before 'W' must be 1-31")
                weekdays.add(day)
                continue
            if "W" in item:
                raise self.fail(
                    DOM, f"'W' needs exactly one day (like 15W), not {item!r}",
                    hint="Write W after one day (15W) or after L (LW, L-2W); a list may hold several, "
                    "like 1W,15W",
                )
            plain.update(self.item(DOM, item))
        return {
            "days_of_month": tuple(sorted(plain)),
            "last_day_offsets": tuple(sorted(last)),
            "nearest_weekdays": tuple(sorted(weekdays)),
            "last_weekday_offsets": tuple(sorted(last_weekdays)),
        }

    def day_of_week(self) -> dict[str, object]:
        text = self.parts[DOW]
        if text == "L":
            return {"days_of_week": (7,)}
        m = _LAST_DOW.match(text)
        if m:
            return {"days_of_week": (self.atom(DOW, m.group(1)),), "last_weekday_of_month": True}
        if "L" in text:  # no day name contains an L, so any other L is a list or range with L
            raise self.fail(
                DOW, f"'L' cannot be combined with a list or range in {text!r}",
                hint="Use one day with L, like 6L (the last Friday), or L alone (Saturday)",
            )
        if "#" in text:
            m = _NTH_DOW.match(text)
            if not m or "," in text or "-" in m.group(1):
                raise self.fail(
                    DOW, f"'#' takes one day and no list in {text!r}",
                    hint="Write one nth day, like 6#3 (the third Friday)",
                )
            day = self.atom(DOW, m.group(1))
            if not m.group(2).isdigit() or not 1 <= int(m.group(2)) <= 5:
                raise self.fail(DOW, f"the number after '#' in {text!r} must be 1-5")
            return {"days_of_week": (day,), "nth_weekday": int(m.group(2))}
        return {"days_of_week": self.values(DOW)}

    def values(self, index: int) -> tuple[int, ...]:
        text = self.parts[index]
        lo, hi = _BOUNDS[index]
        if text == "*":
            return tuple(range(lo, hi + 1))
        result: set[int] = set()
        for item in text.split(","):
            if not item:
                raise self.fail(index, f"empty item in the list {text!r}")
            result.update(self.item(index, item))
        return tuple(sorted(result))

    def item(self, index: int, item: str) -> list[int]:
        lo, hi = _BOUNDS[index]
        m = _PART.match(item)
        if not m:
            raise self.fail(index, f"{item!r} is not a value, range or step", hint=self.allowed(index))
        start_tok, end_tok, step_tok = m.group("start"), m.group("end"), m.group("step")
        if start_tok == "*" and end_tok is not None:
            raise self.fail(index, f"{item!r}: '*' cannot start a range")
        named = [t for t in (start_tok, end_tok) if t is not None and t.isalpha() and t != "*"]
        if named and step_tok is not None:
            # Quartz parses the name and silently drops the '/n' after it.
            raise self.fail(
                index, f"{item!r}: Quartz ignores a step after a name", hint="Use numbers with '/'"
            )
        if end_tok is not None and len(named) == 1:
            raise self.fail(index, f"{item!r} mixes a name and a number", hint="Write both ends as names")
        step = 1
        if step_tok is not None:
            if not step_tok.isdigit():
                raise self.fail(index, f"'/' in {item!r} must be followed by a whole number")
            step = int(step_tok)
            if step < 1 or step > _MAX_STEP[index]:
                raise self.fail(index, f"the step in {item!r} must be 1-{_MAX_STEP[index]}")
        start = lo if start_tok == "*" else self.atom(index, start_tok)
        if end_tok is not None:
            end = self.atom(index, end_tok)
        else:  # a '*' or a step without an end runs to the top of the field ('*' inside a list too)
            end = hi if step_tok is not None or start_tok == "*" else start
        if end >= start:
            return list(range(start, end + 1, step))
        if index == YEAR:
            raise self.fail(index, f"the range {item!r} runs backwards")
        # Quartz allows ranges that wrap around (22-2, FRI-MON, NOV-FEB).
        size = hi - lo + 1
        return [lo + (v - lo) % size for v in range(start, end + size + 1, step)]

    def atom(self, index: int, token: str) -> int:
        lo, hi = _BOUNDS[index]
        if token.isdigit():
            value = int(token)
            if index == DOW and value == 0:
                raise self.fail(
                    index, "0 is not a day: Quartz numbers days 1=SUN..7=SAT (Unix cron's 0 is Sunday)",
                    hint="Write SUN (or 1) for Sunday; names like MON-FRI are clearest",
                )
            if not lo <= value <= hi:
                raise self.fail(index, f"{value} is out of range", hint=self.allowed(index))
            return value
        names = MONTH_NAMES if index == MONTH else DAY_NAMES if index == DOW else None
        if names is None:
            raise self.fail(index, f"{token!r} is not a number", hint=self.allowed(index))
        if token not in names:
            raise self.fail(index, f"{token!r} is not a {FIELD_NAMES[index]} name", hint=self.allowed(index))
        return names.index(token) + 1

    @staticmethod
    def allowed(index: int) -> str:
        lo, hi = _BOUNDS[index]
        extra = {
            DOM: ", or L, L-n, LW, nW",
            MONTH: " or JAN-DEC",
            DOW: " (1=SUN..7=SAT) or SUN-SAT, nL, n#k",
        }.get(index, "")
        return f"{FIELD_NAMES[index]} takes {lo}-{hi}{extra}, with * , - /"


# -- words ------------------------------------------------------------------------------------


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _ordinal(n: int) -> str:
    if n <= len(_ORDINALS):
        return _ORDINALS[n - 1]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _plural(n: int, unit: str) -> str:
    return f"{unit}" if n == 1 else f"{n} {unit}s"


class _Describer:
    def __init__(self, cron: CronExpression) -> None:
        self.c = cron
        self.f = cron.fields

    def text(self) -> str:
        time, date = self.time(), self.date()
        if date == " every day" and time.startswith("every"):
            return time
        return f"{time},{date}" if "," in time else f"{time}{date}"

    def step_of(self, index: int) -> tuple[int, int] | None:
        """(start, step) when the field is exactly ``a/n`` or ``*/n`` with n > 1."""
        m = re.fullmatch(r"(\*|\d+)/(\d+)", self.f[index])
        if not m or int(m.group(2)) < 2:
            return None
        lo = _BOUNDS[index][0]
        return (lo if m.group(1) == "*" else int(m.group(1))), int(m.group(2))

    def listing(self, index: int, fmt: Callable[[int], str] = str) -> str:
        return _join([self.item_words(index, item, fmt) for item in self.f[index].split(",")])

    def item_words(self, index: int, item: str, fmt: Callable[[int], str] = str) -> str:
        if "-" in item and "/" not in item:
            a, b = item.split("-")
            return f"{fmt(self.token(index, a))} through {fmt(self.token(index, b))}"
        if "/" in item:
            start, step = item.split("/")
            first = "the first" if start == "*" else fmt(self.token(index, start))
            return f"every {step} from {first}"
        if item == "*":
            return "every one"
        return fmt(self.token(index, item))

    def day_item(self, item: str) -> str:
        """One item of a day-of-month list in words: 'day 1', 'the last day', 'the weekday nearest day 15'."""
        m = _LAST_DOM.match(item)
        if m:
            offset = int(m.group(1) or 0)
            what = "weekday" if m.group(2) else "day"
            if not offset:
                return f"the last {what}"
            nth = _ordinal(offset + 1)
            return f"the weekday nearest the {nth}-to-last day" if m.group(2) else f"the {nth}-to-last day"
        m = _NEAREST_WEEKDAY.match(item)
        if m:
            return f"the weekday nearest day {int(m.group(1))}"
        if "/" in item:
            start, step = item.split("/")
            return f"every {step} days from day {1 if start == '*' else int(start)}"
        if item == "*":
            return "every day"
        words = self.item_words(DOM, item)
        return f"days {words}" if "-" in item else f"day {words}"

    @staticmethod
    def token(index: int, tok: str) -> int:
        if tok.isdigit():
            return int(tok)
        return (MONTH_NAMES if index == MONTH else DAY_NAMES).index(tok) + 1

    def unit_phrase(self, index: int, unit: str) -> str | None:
        """'every 15 minutes' / 'every minute' for a field that repeats; None for fixed values."""
        text = self.f[index]
        if text == "*":
            return f"every {unit}"
        step = self.step_of(index)
        if step:
            start, n = step
            lead = f"every {n} {unit}s"
            return lead if start == _BOUNDS[index][0] else f"{lead} starting at {unit} {start}"
        return None

    def time(self) -> str:
        c, f = self.c, self.f
        fixed = [len(c.seconds) == 1, len(c.minutes) == 1, len(c.hours) == 1]
        if all(fixed):
            return f"at {c.hours[0]:02d}:{c.minutes[0]:02d}:{c.seconds[0]:02d}"
        if fixed[0] and fixed[1] and len(c.hours) <= 4:
            return "at " + _join([f"{h:02d}:{c.minutes[0]:02d}:{c.seconds[0]:02d}" for h in c.hours])
        pieces: list[str] = []
        sec = self.unit_phrase(SECOND, "second")
        if sec is not None:
            pieces.append(sec)
            if f[MINUTE] != "*":
                pieces.append(self.minute_clause())
        else:
            minute = self.unit_phrase(MINUTE, "minute")
            pieces.append(minute if minute is not None else self.minute_clause())
            pieces.append(f"at second {self.listing(SECOND)}" if len(c.seconds) == 1
                          else f"at seconds {self.listing(SECOND)}")
        if f[HOUR] != "*":
            pieces.append(self.hour_clause())
        return ", ".join(pieces)

    def minute_clause(self) -> str:
        phrase = self.unit_phrase(MINUTE, "minute")
        if phrase is not None:
            return f"during {phrase}".replace("during every", "every")
        word = "minute" if len(self.c.minutes) == 1 else "minutes"
        return f"at {word} {self.listing(MINUTE)}"

    def hour_clause(self) -> str:
        hours = self.c.hours
        step = self.step_of(HOUR)
        if step:
            start, n = step
            return f"every {n} hours" + ("" if start == 0 else f" starting at {start:02d}:00")
        text = self.f[HOUR]
        if re.fullmatch(r"\d+-\d+", text) and hours == tuple(range(hours[0], hours[-1] + 1)):
            return f"between {hours[0]:02d}:00 and {hours[-1]:02d}:59"
        if len(hours) == 1:
            return f"between {hours[0]:02d}:00 and {hours[0]:02d}:59"
        return f"during hours {self.listing(HOUR, lambda h: f'{h:02d}')}"

    def date(self) -> str:
        c, f = self.c, self.f
        months = self.months_text()
        of_months = f"of {months}" if months else "of every month"
        if not c.uses_day_of_week:
            if f[DOM] == "*":
                return f" every day{' in ' + months if months else ''}{self.years_text()}"
            step = self.step_of(DOM)
            if step:
                start, n = step
                return f" every {n} days starting on day {start} {of_months}{self.years_text()}"
            items = f[DOM].split(",")
            if not any("L" in item or "W" in item for item in items):
                word = "day" if len(c.days_of_month) == 1 else "days"
                return f" on {word} {self.listing(DOM)} {of_months}{self.years_text()}"
            return f" on {_join([self.day_item(item) for item in items])} {of_months}{self.years_text()}"
        days = self.f[DOW]
        if c.nth_weekday:
            name = _DAY_WORDS[c.days_of_week[0] - 1]
            return f" on the {_ORDINALS[c.nth_weekday - 1]} {name} {of_months}{self.years_text()}"
        if c.last_weekday_of_month:
            name = _DAY_WORDS[c.days_of_week[0] - 1]
            return f" on the last {name} {of_months}{self.years_text()}"
        if days == "*":
            return f" every day{' in ' + months if months else ''}{self.years_text()}"
        named = "Saturday" if days == "L" else self.listing(DOW, lambda d: _DAY_WORDS[d - 1])
        return f" on {named}{' in ' + months if months else ''}{self.years_text()}"

    def months_text(self) -> str:
        if self.f[MONTH] == "*":
            return ""
        step = self.step_of(MONTH)
        if step:
            return "every " + _plural(step[1], "month") + f" starting in {_MONTH_WORDS[step[0] - 1]}"
        return self.listing(MONTH, lambda m: _MONTH_WORDS[m - 1])

    def years_text(self) -> str:
        if self.f[YEAR] == "*":
            return ""
        years = self.c.years
        if len(years) == 1:
            return f" in {years[0]}"
        if years == tuple(range(years[0], years[-1] + 1)):
            return f" in {years[0]} through {years[-1]}"
        return f" in {_join([str(y) for y in years])}"


def describe(expr: str | CronExpression) -> str:
    """The expression in words; raises ``CronSyntaxError`` when it does not parse."""
    cron = expr if isinstance(expr, CronExpression) else parse_cron(expr)
    return cron.describe()


# -- lint -------------------------------------------------------------------------------------


def _lint(c: CronExpression, now: datetime | None) -> list[str]:
    warnings: list[str] = []
    f = c.fields
    if len(c.seconds) > 1:
        rest = " ".join(f[HOUR:] if f[YEAR] != "*" else f[HOUR:YEAR])
        step = _Describer(c).step_of(SECOND)
        if f[SECOND] == "*":
            fires = "fires every second"
        elif step and step[0] == 0:
            fires = f"fires every {step[1]} seconds"
        else:
            fires = f"fires {len(c.seconds)} times a minute (seconds {f[SECOND]})"
        if step and f[MINUTE] == "*":
            advice = f"for every {step[1]} minutes write 0 0/{step[1]} {rest}"
        else:
            advice = f"to fire once a minute write 0 {f[MINUTE]} {rest}"
        warnings.append(f"{fires}; {advice}")
    if c.uses_day_of_week and re.search(r"\d", f[DOW].split("#")[0]):
        warnings.append(
            f"day-of-week {f[DOW]!r} uses numbers: Quartz numbers days 1=SUN..7=SAT "
            f"(Unix cron 0=SUN, and Advanced Identity Cloud has been known to read 1 as Monday); "
            f"write {_named_dow(f[DOW])} to be clear"
        )
    numbered = c.days_of_month + c.nearest_weekdays
    if not c.uses_day_of_week and numbered and not c.last_day_offsets and not c.last_weekday_offsets \
            and min(numbered) > 28:
        warnings.append(
            f"day-of-month {f[DOM]!r} skips months that have no day {min(numbered)}; "
            "write L for the last day of every month (LW for the last weekday)"
        )
    after = now or datetime.now(UTC)
    if c.next_fire(after, "UTC") is None:
        warnings.append(f"never fires after {after.date().isoformat()}")
    return warnings


def _named_dow(text: str) -> str:
    def name(m: re.Match[str]) -> str:
        n = int(m.group(0))
        return DAY_NAMES[n - 1] if 1 <= n <= 7 else m.group(0)

    if "#" in text:
        day, nth = text.split("#", 1)
        return re.sub(r"\d+", name, day) + "#" + nth
    head, sep, step = text.partition("/")
    return re.sub(r"\d+", name, head) + sep + step


def lint(expr: str | CronExpression, now: datetime | None = None) -> list[str]:
    """Warnings for a valid expression (too frequent, numeric days, never fires); raises if invalid."""
    cron = expr if isinstance(expr, CronExpression) else parse_cron(expr)
    return cron.lint(now)
