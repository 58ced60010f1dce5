"""The centre's opening hours and what they mean for escalation. Pure functions, local time.

Escalation counts only time the centre is open: a red that arrives at 14:50 on a Friday is overdue
at 08:50 on Monday, not at 15:50 on Friday, when nobody is there to call.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")
RED_AFTER = datetime.timedelta(hours=1)  # of open time


@dataclass(frozen=True)
class OpeningHours:
    opens: datetime.time = datetime.time(8, 0)
    closes: datetime.time = datetime.time(15, 0)
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})

    @classmethod
    def of(cls, centre) -> OpeningHours:
        if centre is None:
            return cls()
        return cls(centre.opens_at, centre.closes_at, frozenset(centre.open_weekdays))

    @property
    def working_day(self) -> datetime.timedelta:
        day = datetime.date(2000, 1, 3)
        return datetime.datetime.combine(day, self.closes) - datetime.datetime.combine(day, self.opens)

    def _window(self, day: datetime.date) -> tuple[datetime.datetime, datetime.datetime] | None:
        if day.weekday() not in self.weekdays:
            return None
        return (
            datetime.datetime.combine(day, self.opens, tzinfo=OSLO),
            datetime.datetime.combine(day, self.closes, tzinfo=OSLO),
        )

    def is_open(self, at: datetime.datetime) -> bool:
        window = self._window(at.astimezone(OSLO).date())
        return window is not None and window[0] <= at < window[1]

    def open_time_between(
        self, start: datetime.datetime, end: datetime.datetime, *, past: datetime.timedelta | None = None
    ) -> datetime.timedelta:
        """How much of [start, end) the centre was open; with `past`, counting stops at the first day
        that takes the total past it (an alert open for months is overdue after its first days: the
        worklist asks for each row on every refresh, and need not walk every day since)."""
        total = datetime.timedelta()
        if end <= start:
            return total
        day = start.astimezone(OSLO).date()
        last = end.astimezone(OSLO).date()
        while day <= last:
            window = self._window(day)
            if window:
                total += max(datetime.timedelta(), min(end, window[1]) - max(start, window[0]))
                if past is not None and total > past:
                    return total
            day += datetime.timedelta(days=1)
        return total

    def overdue_before(self, now: datetime.datetime, limit: datetime.timedelta) -> datetime.datetime | None:
        """The moment before which an alert has been open more than `limit` of open time by `now`:
        `open_time_between(since, now) > limit` exactly when `since < overdue_before(now, limit)` (the open
        time is continuous and never grows as `since` moves later). Walks back from `now` through the
        open windows once, so the worklist asks twice per request (red, yellow), not once per row.
        None: there was not that much open time in the last year and a week (a centre never open)."""
        remaining = limit
        day = now.astimezone(OSLO).date()
        for _ in range(372):
            window = self._window(day)
            day -= datetime.timedelta(days=1)
            if window is None or window[0] >= now:
                continue
            start, end = window[0], min(window[1], now)
            if end <= start:
                continue  # a centre that closes when it opens has no open time that day
            if end - start > remaining:
                # inside the window (or, with nothing remaining, at its end: the limit was reached at the
                # next window's opening, and only a moment before this one's end adds open time)
                return end - remaining
            remaining -= end - start
        return None

    def next_opening(self, at: datetime.datetime) -> datetime.datetime | None:
        day = at.astimezone(OSLO).date()
        for _ in range(8):
            window = self._window(day)
            if window and at < window[1]:
                return max(window[0], at)
            day += datetime.timedelta(days=1)
        return None


def overdue_limit(colour: str, hours: OpeningHours) -> datetime.timedelta:
    """A red is overdue after one open hour, a yellow after one working day."""
    return RED_AFTER if colour == "red" else hours.working_day


def is_overdue(colour: str, since: datetime.datetime, now: datetime.datetime, hours: OpeningHours) -> bool:
    """A red open for more than one open hour, a yellow for more than one working day."""
    limit = overdue_limit(colour, hours)
    if now - since <= limit:
        return False  # open time is never more than the time gone by: no need to count the days
    return hours.open_time_between(since, now, past=limit) > limit
