"""The Quartz cron engine pinned by a hand-checked table of fire times, DST cases and Quartz's rejections.

Every expected time below was worked out by hand from a calendar (2026-01-01 is a Thursday; Berlin
springs forward 2026-03-29 and falls back 2026-10-25; New York on 2026-03-08 and 2026-11-01), not by
running the code under test. The rows for day-of-month lists and for nW past the month's end were also
checked against Quartz itself (master for the lists, 2.3.2 — what IDM runs — for nW).
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import pytest
from croniter import croniter  # type: ignore[import-untyped]

from controller.cron import describe, lint, parse_cron
from controller.errors import CronSyntaxError, UsageError

JAN1 = "2026-01-01T00:00:00+00:00"
END = "no further fire time"

# (expression, time zone, after, the next fire times in order)
TABLE: list[tuple[str, str, str, list[str]]] = [
    # -- every example of the Quartz CronTrigger tutorial --------------------------------------
    ("0 0 12 * * ?", "UTC", JAN1, ["2026-01-01T12:00:00+00:00", "2026-01-02T12:00:00+00:00"]),
    ("0 15 10 ? * *", "UTC", JAN1, ["2026-01-01T10:15:00+00:00", "2026-01-02T10:15:00+00:00"]),
    ("0 15 10 * * ?", "UTC", JAN1, ["2026-01-01T10:15:00+00:00", "2026-01-02T10:15:00+00:00"]),
    ("0 15 10 * * ? *", "UTC", JAN1, ["2026-01-01T10:15:00+00:00", "2026-01-02T10:15:00+00:00"]),
    ("0 15 10 * * ? 2005", "UTC", "2005-06-15T12:00:00+00:00",
     ["2005-06-16T10:15:00+00:00", "2005-06-17T10:15:00+00:00"]),
    ("0 15 10 * * ? 2005", "UTC", "2005-12-30T12:00:00+00:00", ["2005-12-31T10:15:00+00:00", END]),
    ("0 * 14 * * ?", "UTC", "2026-01-01T14:58:30+00:00",
     ["2026-01-01T14:59:00+00:00", "2026-01-02T14:00:00+00:00", "2026-01-02T14:01:00+00:00"]),
    ("0 0/5 14 * * ?", "UTC", "2026-01-01T14:50:00+00:00",
     ["2026-01-01T14:55:00+00:00", "2026-01-02T14:00:00+00:00", "2026-01-02T14:05:00+00:00"]),
    ("0 0/5 14,18 * * ?", "UTC", "2026-01-01T14:55:00+00:00",
     ["2026-01-01T18:00:00+00:00", "2026-01-01T18:05:00+00:00"]),
    ("0 0-5 14 * * ?", "UTC", "2026-01-01T14:04:30+00:00",
     ["2026-01-01T14:05:00+00:00", "2026-01-02T14:00:00+00:00"]),
    # March 2026 starts on a Sunday: its Wednesdays are the 4th, 11th, 18th and 25th.
    ("0 10,44 14 ? 3 WED", "UTC", JAN1,
     ["2026-03-04T14:10:00+00:00", "2026-03-04T14:44:00+00:00", "2026-03-11T14:10:00+00:00"]),
    ("0 15 10 ? * MON-FRI", "UTC", JAN1,
     ["2026-01-01T10:15:00+00:00", "2026-01-02T10:15:00+00:00", "2026-01-05T10:15:00+00:00"]),
    ("0 15 10 15 * ?", "UTC", JAN1, ["2026-01-15T10:15:00+00:00", "2026-02-15T10:15:00+00:00"]),
    ("0 15 10 L * ?", "UTC", JAN1,
     ["2026-01-31T10:15:00+00:00", "2026-02-28T10:15:00+00:00", "2026-03-31T10:15:00+00:00"]),
    ("0 15 10 L * ?", "UTC", "2028-02-01T00:00:00+00:00", ["2028-02-29T10:15:00+00:00"]),
    ("0 15 10 L-2 * ?", "UTC", JAN1,
     ["2026-01-29T10:15:00+00:00", "2026-02-26T10:15:00+00:00", "2026-03-29T10:15:00+00:00"]),
    # Last Fridays 2026: Jan 31 and Feb 28 are Saturdays, Mar 31 a Tuesday.
    ("0 15 10 ? * 6L", "UTC", JAN1,
     ["2026-01-30T10:15:00+00:00", "2026-02-27T10:15:00+00:00", "2026-03-27T10:15:00+00:00"]),
    # 2002-01-31 and 2002-02-28 are Thursdays.
    ("0 15 10 ? * 6L 2002-2005", "UTC", "2001-06-01T00:00:00+00:00",
     ["2002-01-25T10:15:00+00:00", "2002-02-22T10:15:00+00:00"]),
    # 2005-12-31 is a Saturday; after that the years run out.
    ("0 15 10 ? * 6L 2002-2005", "UTC", "2005-12-01T00:00:00+00:00", ["2005-12-30T10:15:00+00:00", END]),
    # Fridays: Jan 2, 9, 16; Feb 6, 13, 20; Mar 6, 13, 20.
    ("0 15 10 ? * 6#3", "UTC", JAN1,
     ["2026-01-16T10:15:00+00:00", "2026-02-20T10:15:00+00:00", "2026-03-20T10:15:00+00:00"]),
    ("0 0 12 1/5 * ?", "UTC", "2026-01-30T00:00:00+00:00",
     ["2026-01-31T12:00:00+00:00", "2026-02-01T12:00:00+00:00", "2026-02-06T12:00:00+00:00"]),
    ("0 11 11 11 11 ?", "UTC", JAN1, ["2026-11-11T11:11:00+00:00", "2027-11-11T11:11:00+00:00"]),
    # -- seconds first: the seed's mistake and its fix ---------------------------------------------
    ("*/15 * * * * ?", "UTC", JAN1,
     ["2026-01-01T00:00:15+00:00", "2026-01-01T00:00:30+00:00", "2026-01-01T00:00:45+00:00",
      "2026-01-01T00:01:00+00:00"]),
    ("0/15 * * * * ?", "UTC", JAN1, ["2026-01-01T00:00:15+00:00", "2026-01-01T00:00:30+00:00"]),
    ("0 0/15 * * * ?", "UTC", JAN1, ["2026-01-01T00:15:00+00:00", "2026-01-01T00:30:00+00:00"]),
    ("0 */15 * * * ?", "UTC", JAN1, ["2026-01-01T00:15:00+00:00", "2026-01-01T00:30:00+00:00"]),
    ("5-30/5 * * * * ?", "UTC", "2026-01-01T00:00:25+00:00",
     ["2026-01-01T00:00:30+00:00", "2026-01-01T00:01:05+00:00", "2026-01-01T00:01:10+00:00"]),
    ("5/20 * * * * ?", "UTC", JAN1,
     ["2026-01-01T00:00:05+00:00", "2026-01-01T00:00:25+00:00", "2026-01-01T00:00:45+00:00",
      "2026-01-01T00:01:05+00:00"]),
    # -- ranges that wrap, days of the week numbered from Sunday, names in any case -----------------
    ("0 0 22-2 * * ?", "UTC", JAN1,
     ["2026-01-01T01:00:00+00:00", "2026-01-01T02:00:00+00:00", "2026-01-01T22:00:00+00:00",
      "2026-01-01T23:00:00+00:00", "2026-01-02T00:00:00+00:00"]),
    ("0 0 9 ? * FRI-MON", "UTC", JAN1,
     ["2026-01-02T09:00:00+00:00", "2026-01-03T09:00:00+00:00", "2026-01-04T09:00:00+00:00",
      "2026-01-05T09:00:00+00:00", "2026-01-09T09:00:00+00:00"]),
    # '*' inside a list is every value, as in Quartz.
    ("0 0 *,9 * * ?", "UTC", JAN1, ["2026-01-01T01:00:00+00:00", "2026-01-01T02:00:00+00:00"]),
    ("0 0 9 ? * L", "UTC", JAN1, ["2026-01-03T09:00:00+00:00", "2026-01-10T09:00:00+00:00"]),
    ("0 0 9 ? * 1", "UTC", JAN1, ["2026-01-04T09:00:00+00:00", "2026-01-11T09:00:00+00:00"]),
    ("0 0 9 ? * 2", "UTC", JAN1, ["2026-01-05T09:00:00+00:00", "2026-01-12T09:00:00+00:00"]),
    ("0 0 9 ? * sun,sat", "UTC", JAN1,
     ["2026-01-03T09:00:00+00:00", "2026-01-04T09:00:00+00:00", "2026-01-10T09:00:00+00:00"]),
    # July 2026 starts on a Wednesday.
    ("0 0 9 ? jan,Jul mon", "UTC", "2026-01-20T00:00:00+00:00",
     ["2026-01-26T09:00:00+00:00", "2026-07-06T09:00:00+00:00"]),
    # -- L, W, LW, L-n, # --------------------------------------------------------------------------
    ("0 0 9 LW * ?", "UTC", JAN1,
     ["2026-01-30T09:00:00+00:00", "2026-02-27T09:00:00+00:00", "2026-03-31T09:00:00+00:00"]),
    ("0 0 9 LW * ?", "UTC", "2026-05-01T00:00:00+00:00", ["2026-05-29T09:00:00+00:00"]),  # May 31: Sunday
    # Jan 15: Thursday; Feb 15 and Mar 15: Sundays; Aug 15: Saturday.
    ("0 0 9 15W * ?", "UTC", JAN1,
     ["2026-01-15T09:00:00+00:00", "2026-02-16T09:00:00+00:00", "2026-03-16T09:00:00+00:00"]),
    ("0 0 9 15W * ?", "UTC", "2026-07-20T00:00:00+00:00", ["2026-08-14T09:00:00+00:00"]),
    # Aug 1 2026 is a Saturday: W does not go back into July, it moves on to Monday the 3rd.
    ("0 0 9 1W * ?", "UTC", "2026-07-02T00:00:00+00:00", ["2026-08-03T09:00:00+00:00"]),
    # May 31 2026 is a Sunday: W does not go into June, it goes back to Friday the 29th; June has no 31st.
    ("0 0 9 31W * ?", "UTC", "2026-05-01T00:00:00+00:00",
     ["2026-05-29T09:00:00+00:00", "2026-07-31T09:00:00+00:00"]),
    ("0 0 9 L-3 * ?", "UTC", JAN1, ["2026-01-28T09:00:00+00:00", "2026-02-25T09:00:00+00:00"]),
    # -- day-of-month lists with W and L items (Quartz master) ------------------------------------------
    # 2010-01-02 is a Saturday: 2W is Friday the 1st; Feb 2 and Mar 2 2010 are a Tuesday and a Tuesday.
    ("0 15 10 2W,16 * ? 2010", "UTC", "2010-01-01T00:00:00+00:00",
     ["2010-01-01T10:15:00+00:00", "2010-01-16T10:15:00+00:00", "2010-02-02T10:15:00+00:00",
      "2010-02-16T10:15:00+00:00", "2010-03-02T10:15:00+00:00"]),
    ("0 0 9 1,L * ?", "UTC", JAN1,
     ["2026-01-01T09:00:00+00:00", "2026-01-31T09:00:00+00:00", "2026-02-01T09:00:00+00:00",
      "2026-02-28T09:00:00+00:00"]),
    ("0 0 12 L,15 * ?", "UTC", JAN1,
     ["2026-01-15T12:00:00+00:00", "2026-01-31T12:00:00+00:00", "2026-02-15T12:00:00+00:00"]),
    # L-1: Jan 30 (Fri), Feb 27 (Fri), Mar 30 (Mon), Apr 29 (Wed), May 30 (Sat: L-1W is Friday the 29th).
    ("0 0 9 L-1W,L-1 * ?", "UTC", JAN1,
     ["2026-01-30T09:00:00+00:00", "2026-02-27T09:00:00+00:00", "2026-03-30T09:00:00+00:00",
      "2026-04-29T09:00:00+00:00", "2026-05-29T09:00:00+00:00", "2026-05-30T09:00:00+00:00"]),
    # Feb 15 2026 is a Sunday (15W: Monday the 16th), Mar 15 a Sunday, Mar 20 a Friday.
    ("0 0 12 15W,20 * ?", "UTC", "2026-02-01T00:00:00+00:00",
     ["2026-02-16T12:00:00+00:00", "2026-02-20T12:00:00+00:00", "2026-03-16T12:00:00+00:00"]),
    # Aug 15 2026 is a Saturday: 15W is Friday the 14th, and 20W (Thursday the 20th) still fires after it.
    ("0 0 9 15W,20W * ?", "UTC", "2026-08-01T00:00:00+00:00",
     ["2026-08-14T09:00:00+00:00", "2026-08-20T09:00:00+00:00", "2026-09-15T09:00:00+00:00"]),
    # -- nW past the month's end (Quartz 2.3.2): day n rolls into the next month; only when that is
    # the 1st and a Saturday does W step back to the month's last day, a Friday ---------------------------
    # Feb 29 2036 and Feb 29 2064 are Fridays; in between, the 1st of March is never a Saturday in a leap year.
    ("0 0 9 30W 2 ?", "UTC", "2020-01-01T00:00:00+00:00",
     ["2036-02-29T09:00:00+00:00", "2064-02-29T09:00:00+00:00"]),
    # Apr 30 2021 and 2027 are Fridays; Apr 30 2026 is a Thursday, so 2026 has no fire.
    ("0 0 9 31W 4 ?", "UTC", "2020-01-01T00:00:00+00:00",
     ["2021-04-30T09:00:00+00:00", "2027-04-30T09:00:00+00:00"]),
    # Feb 28 2025 is a Friday (March 1st a Saturday); Feb 28 2026 is a Saturday, 2027 a Sunday.
    ("0 0 9 29W 2 ?", "UTC", "2025-01-01T00:00:00+00:00",
     ["2025-02-28T09:00:00+00:00", "2028-02-29T09:00:00+00:00"]),
    ("0 0 9 ? * 2#1", "UTC", JAN1,
     ["2026-01-05T09:00:00+00:00", "2026-02-02T09:00:00+00:00", "2026-03-02T09:00:00+00:00"]),
    # Only March and June 2026 have a fifth Monday (the 30th, the 29th) in the first half.
    ("0 0 9 ? * MON#5", "UTC", JAN1, ["2026-03-30T09:00:00+00:00", "2026-06-29T09:00:00+00:00"]),
    ("0 0 9 ? * 1L", "UTC", JAN1,
     ["2026-01-25T09:00:00+00:00", "2026-02-22T09:00:00+00:00", "2026-03-29T09:00:00+00:00"]),
    # -- short months, the end of the range, "strictly after" ---------------------------------------
    ("0 0 0 29 2 ?", "UTC", JAN1, ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"]),
    ("0 0 0 31 * ?", "UTC", JAN1,
     ["2026-01-31T00:00:00+00:00", "2026-03-31T00:00:00+00:00", "2026-05-31T00:00:00+00:00"]),
    ("59 59 23 31 12 ? 2099", "UTC", JAN1, ["2099-12-31T23:59:59+00:00", END]),
    # Quartz master documents years up to 2199.
    ("0 0 0 1 1 ? 2150", "UTC", JAN1, ["2150-01-01T00:00:00+00:00", END]),
    ("59 59 23 31 12 ? 2199", "UTC", "2199-12-31T23:59:58+00:00", ["2199-12-31T23:59:59+00:00", END]),
    ("0 0 12 31 12 ? *", "UTC", "2199-01-01T00:00:00+00:00", ["2199-12-31T12:00:00+00:00", END]),
    ("0 0 12 * * ?", "UTC", "2026-01-01T12:00:00+00:00", ["2026-01-02T12:00:00+00:00"]),
    ("0 0 12 * * ?", "UTC", "2026-01-01T11:59:59.999000+00:00", ["2026-01-01T12:00:00+00:00"]),
    # -- time zones ------------------------------------------------------------------------------
    ("0 0 12 * * ?", "Europe/Berlin", JAN1, ["2026-01-01T12:00:00+01:00"]),
    ("0 0 12 * * ?", "Europe/Berlin", "2026-07-01T00:00:00+00:00", ["2026-07-01T12:00:00+02:00"]),
    ("0 0 9 ? * MON-FRI", "America/New_York", "2026-01-02T15:00:00+00:00", ["2026-01-05T09:00:00-05:00"]),
    ("0 0 9 * * ?", "America/New_York", "2026-03-07T15:00:00+00:00",
     ["2026-03-08T09:00:00-04:00", "2026-03-09T09:00:00-04:00"]),
    # -- DST, spring forward: a wall time that does not exist is skipped (Quartz) -------------------
    ("0 30 2 * * ?", "Europe/Berlin", "2026-03-28T12:00:00+01:00",
     ["2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"]),
    ("0 0/30 * * * ?", "Europe/Berlin", "2026-03-29T01:00:00+01:00",
     ["2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00"]),
    ("0 30 * * * ?", "Europe/Berlin", "2026-03-29T01:00:00+01:00",
     ["2026-03-29T01:30:00+01:00", "2026-03-29T03:30:00+02:00"]),
    ("0 30 2 * * ?", "America/New_York", "2026-03-07T12:00:00-05:00",
     ["2026-03-09T02:30:00-04:00"]),
    ("0 0 * * * ?", "America/New_York", "2026-03-08T00:30:00-05:00",
     ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"]),
    # -- DST, fall back: each wall time fires once, at its standard-time (second) occurrence --------
    ("0 30 2 * * ?", "Europe/Berlin", "2026-10-24T12:00:00+02:00",
     ["2026-10-25T02:30:00+01:00", "2026-10-26T02:30:00+01:00"]),
    ("0 0/30 * * * ?", "Europe/Berlin", "2026-10-25T01:00:00+02:00",
     ["2026-10-25T01:30:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00",
      "2026-10-25T03:00:00+01:00"]),
    ("0 0/30 * * * ?", "Europe/Berlin", "2026-10-25T02:10:00+02:00", ["2026-10-25T02:30:00+01:00"]),
    ("0 30 1 * * ?", "America/New_York", "2026-10-31T12:00:00-04:00",
     ["2026-11-01T01:30:00-05:00", "2026-11-02T01:30:00-05:00"]),
    ("0 0 * * * ?", "America/New_York", "2026-11-01T00:30:00-04:00",
     ["2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"]),
]


@pytest.mark.parametrize(
    ("expr", "tz", "after", "expected"), TABLE, ids=[f"{r[0]}|{r[1]}|{r[2]}" for r in TABLE]
)
def test_fire_times_table(expr: str, tz: str, after: str, expected: list[str]) -> None:
    cron = parse_cron(expr)
    got = cron.fire_times(datetime.fromisoformat(after), tz, count=len(expected))
    rendered = [t.isoformat() for t in got] + [END] * (len(expected) - len(got))
    assert rendered == expected


def test_table_is_large_enough() -> None:
    assert len({row[0] for row in TABLE}) >= 40


def test_fire_times_are_aware_and_in_the_zone() -> None:
    got = parse_cron("0 0 12 * * ?").next_fire(datetime(2026, 7, 1, tzinfo=UTC), "Europe/Berlin")
    assert got is not None and str(got.tzinfo) == "Europe/Berlin"
    assert got.astimezone(UTC) == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def test_never_fires_again() -> None:
    assert parse_cron("0 0 0 30 2 ?").next_fire(datetime(2026, 1, 1, tzinfo=UTC)) is None
    assert parse_cron("0 0 0 * * ? 2005").next_fire(datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_cron("0 0 12 * * ?").next_fire(datetime(2026, 1, 1), "UTC")


def test_unknown_time_zone() -> None:
    with pytest.raises(UsageError, match="Mars/Olympus"):
        parse_cron("0 0 12 * * ?").next_fire(datetime(2026, 1, 1, tzinfo=UTC), "Mars/Olympus")


# (expression, time zone, moment, whether it is a fire time); a fraction of a second is dropped, as in Quartz
MATCHES: list[tuple[str, str, str, bool]] = [
    ("0 15 10 ? * 6L", "UTC", "2026-01-30T10:15:00+00:00", True),
    ("0 15 10 ? * 6L", "UTC", "2026-01-23T10:15:00+00:00", False),
    ("0 0 10 * * ?", "UTC", "2026-01-01T10:00:00.000001+00:00", True),
    ("0 0 10 * * ?", "UTC", "2026-01-01T10:00:00.999999+00:00", True),
    ("0 0 10 * * ?", "UTC", "2026-01-01T10:00:01.000001+00:00", False),
    ("0 0 10 * * ?", "UTC", "2026-01-01T09:59:59.999999+00:00", False),
    ("0 0 10 * * ?", "Europe/Berlin", "2026-01-01T09:00:00.250000+00:00", True),
    ("0 0 9 1,L * ?", "UTC", "2026-02-28T09:00:00+00:00", True),
]


@pytest.mark.parametrize(("expr", "tz", "moment", "expected"), MATCHES)
def test_matches(expr: str, tz: str, moment: str, expected: bool) -> None:
    assert parse_cron(expr).matches(datetime.fromisoformat(moment), tz) is expected


def test_a_thousand_next_fire_times_walk_forward() -> None:
    cron = parse_cron("*/15 * * * * ?")
    start = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    times = cron.fire_times(start, "Europe/Berlin", count=1000)
    assert len(times) == 1000
    instants = [t.astimezone(UTC) for t in times]  # same-zone subtraction would use wall time
    gaps = {b - a for a, b in zip(instants, instants[1:], strict=False)}
    assert gaps == {timedelta(seconds=15)}  # Berlin springs forward in this window; real time does not


def test_every_fire_time_matches_its_fields() -> None:
    """Property: each fire time of a busy expression satisfies every field, in local wall time."""
    cron = parse_cron("0 0/20 8-18 ? * MON-FRI")
    for t in cron.fire_times(datetime(2026, 3, 20, tzinfo=UTC), "Europe/Berlin", count=300):
        assert t.second == 0 and t.minute in (0, 20, 40) and 8 <= t.hour <= 18
        assert t.isoweekday() <= 5


# -- rejections: Quartz says no where croniter says yes --------------------------------------------

CRONITER_ACCEPTS_QUARTZ_REJECTS = [
    ("* * * * * *", "day-of-week", "exactly one"),
    ("0 0 12 ? * ?", "day-of-week", "both"),
    ("0 0 12 * * 1-5", "day-of-week", "exactly one"),
    ("0 0 12 15 * MON", "day-of-week", "exactly one"),
    ("0 0 9 * * 1 2026", "day-of-week", "exactly one"),
    ("0 0 12 ? * 0", "day-of-week", "1=SUN..7=SAT"),
    ("0 0 12 ? * 0-4", "day-of-week", "1=SUN..7=SAT"),
    ("0 0 12 ? * 6#3,2#1", "day-of-week", "'#'"),
    ("0 0 12 ? * MON/2", "day-of-week", "step after a name"),
]


@pytest.mark.parametrize(("expr", "field", "words"), CRONITER_ACCEPTS_QUARTZ_REJECTS)
def test_quartz_invalid_that_croniter_accepts(expr: str, field: str, words: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert croniter.is_valid(expr, second_at_beginning=True), "croniter should accept it"
    with pytest.raises(CronSyntaxError) as info:
        parse_cron(expr)
    assert info.value.field == field
    assert field in str(info.value) and words in str(info.value)


def test_five_field_unix_cron_says_seconds_come_first() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert croniter.is_valid("*/15 * * * *")
    with pytest.raises(CronSyntaxError) as info:
        parse_cron("*/15 * * * *")
    message = str(info.value)
    assert "seconds first" in message and "'0 */15 * * * ?'" in message


def test_five_field_suggestion_translates_unix_weekdays() -> None:
    with pytest.raises(CronSyntaxError, match=r"'0 0 9 \? \* MON-FRI'"):
        parse_cron("0 9 * * 1-5")


@pytest.mark.parametrize(
    ("expr", "field"),
    [
        ("0 0 12 ? * 6L,2", "day-of-week"),
        ("0 0 12 ? * 2-6L", "day-of-week"),
        ("0 0 12 ? * 7#6", "day-of-week"),
        ("0 0 12 ? * MON#0", "day-of-week"),
        ("0 0 12 ? * 8", "day-of-week"),
        ("0 0 12 ? * 2-FRI", "day-of-week"),
        ("0 0 12 ? * L-2", "day-of-week"),
        ("0 0 12 1-5W * ?", "day-of-month"),
        ("0 0 12 1-5W,L * ?", "day-of-month"),
        ("0 0 12 W * ?", "day-of-month"),
        ("0 0 12 5L * ?", "day-of-month"),
        ("0 0 12 L-,1 * ?", "day-of-month"),
        ("0 0 12 1,L-31 * ?", "day-of-month"),
        ("0 0 12 32W,L * ?", "day-of-month"),
        ("0 0 12 L-31 * ?", "day-of-month"),
        ("0 0 0 0 * ?", "day-of-month"),
        ("0 0 0 32 * ?", "day-of-month"),
        ("0 0 0 ? 13 *", "month"),
        ("0 0 0 ? FOO *", "month"),
        ("0 0 0 ? JAN-MAR/2 *", "month"),
        ("60 * * * * ?", "second"),
        ("0 0/0 * * * ?", "minute"),
        ("0 0/60 * * * ?", "minute"),
        ("0 ? * * * *", "minute"),
        ("0 0 24 * * ?", "hour"),
        ("0 0 12 * * ? 1969", "year"),
        ("0 0 12 * * ? 2200", "year"),
        ("0 0 12 * * ? 2150-2200", "year"),
        ("0 0 12 * * ? 2010-2005", "year"),
        ("0 0 12 ?5 * *", "day-of-month"),
        ("0 0 12 1,,2 * ?", "day-of-month"),
    ],
)
def test_rejections_name_the_field(expr: str, field: str) -> None:
    with pytest.raises(CronSyntaxError) as info:
        parse_cron(expr)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field} field of cron {expr!r}")


@pytest.mark.parametrize("expr", ["", "0 0 12", "* * * * * ? * *"])
def test_wrong_number_of_fields(expr: str) -> None:
    with pytest.raises(CronSyntaxError, match="6 or 7"):
        parse_cron(expr)


# -- words and lint ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("0 0/15 * * * ?", "every 15 minutes, at second 0"),
        ("*/15 * * * * ?", "every 15 seconds"),
        ("* * * * * ?", "every second"),
        ("0 15 10 ? * 6L", "at 10:15:00 on the last Friday of every month"),
        ("0 15 10 ? * 6#3", "at 10:15:00 on the third Friday of every month"),
        ("0 0 12 * * ?", "at 12:00:00 every day"),
        ("0 15 10 ? * MON-FRI", "at 10:15:00 on Monday through Friday"),
        ("0 15 10 L * ?", "at 10:15:00 on the last day of every month"),
        ("0 15 10 L-2 * ?", "at 10:15:00 on the third-to-last day of every month"),
        ("0 0 9 LW * ?", "at 09:00:00 on the last weekday of every month"),
        ("0 0 9 15W * ?", "at 09:00:00 on the weekday nearest day 15 of every month"),
        ("0 11 11 11 11 ?", "at 11:11:00 on day 11 of November"),
        ("0 15 10 * * ? 2005", "at 10:15:00 every day in 2005"),
        ("0 15 10 ? * 6L 2002-2005", "at 10:15:00 on the last Friday of every month in 2002 through 2005"),
        ("0 0/5 14 * * ?", "every 5 minutes, at second 0, between 14:00 and 14:59"),
        ("0 10,44 14 ? 3 WED",
         "at minutes 10 and 44, at second 0, between 14:00 and 14:59, on Wednesday in March"),
        ("0 0 12 1/5 * ?", "at 12:00:00 every 5 days starting on day 1 of every month"),
        ("0 0 9 1,L * ?", "at 09:00:00 on day 1 and the last day of every month"),
        ("0 15 10 2W,16 * ? 2010", "at 10:15:00 on the weekday nearest day 2 and day 16 of every month in 2010"),
        ("0 0 9 L-1W,L-1 * ?",
         "at 09:00:00 on the weekday nearest the second-to-last day and the second-to-last day of every month"),
        ("0 0 9 1-5,LW * ?", "at 09:00:00 on days 1 through 5 and the last weekday of every month"),
        ("0 0 0 1 1 ? 2150", "at 00:00:00 on day 1 of January in 2150"),
    ],
)
def test_describe(expr: str, words: str) -> None:
    assert describe(expr) == words


def test_lint_too_frequent_says_how_to_write_every_15_minutes() -> None:
    assert lint("*/15 * * * * ?") == ["fires every 15 seconds; for every 15 minutes write 0 0/15 * * * ?"]
    assert lint("0 0/15 * * * ?") == []
    assert lint("* * * * * ?")[0].startswith("fires every second")


def test_lint_numeric_day_of_week() -> None:
    (warning,) = lint("0 0 8 ? * 2-6")
    assert "1=SUN..7=SAT" in warning and "write MON-FRI to be clear" in warning
    assert lint("0 0 8 ? * MON-FRI") == []


def test_lint_never_fires_and_short_months() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert lint("0 0 0 * * ? 2005", now=now) == ["never fires after 2026-01-01"]
    assert any("skips months" in w for w in lint("0 0 0 31 * ?", now=now))


def test_lowercase_and_extra_spaces_normalise() -> None:
    cron = parse_cron("  0 15 10 ? *   mon-fri ")
    assert str(cron) == "0 15 10 ? * MON-FRI"
    assert cron == parse_cron("0 15 10 ? * MON-FRI")
