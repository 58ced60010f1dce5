"""When each service-use registration of a forløp is due, pure (the dates in, the points out): the
null-punkt at oppstart, 6 and 12 months after oppstart while the forløp still runs, and the end.
A point is `due` from its date until a registration of its kind is made for the forløp, `coming`
before its date, `registered` after."""

from __future__ import annotations

import calendar
import datetime
from dataclasses import dataclass

from insight.models import ServiceUseKind

DUE, COMING, REGISTERED = "due", "coming", "registered"


def add_months(day: datetime.date, months: int) -> datetime.date:
    """The same day `months` later, or the month's last day when it has fewer (31 Aug + 6 → 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return datetime.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


@dataclass(frozen=True)
class Forlop:
    """The forløp of a patient in its present kommune: its oppstart, its end (None: it runs), and
    the end of the forløp before it (a registration from before then belongs to that one)."""

    municipality_id: int
    started_on: datetime.date
    ended_on: datetime.date | None = None
    previous_end: datetime.date | None = None


@dataclass(frozen=True)
class Point:
    kind: str
    due_on: datetime.date
    state: str
    registered_at: datetime.datetime | None = None  # the registration that met it

    @property
    def label(self) -> str:
        return str(ServiceUseKind(self.kind).label)


def due_dates(forlop: Forlop) -> list[tuple[str, datetime.date]]:
    """(kind, date) of the forløp's registrations: 6 and 12 months only if the forløp still ran then."""
    points = [(ServiceUseKind.BASELINE.value, forlop.started_on)]
    for kind, months in ((ServiceUseKind.MONTH_6, 6), (ServiceUseKind.MONTH_12, 12)):
        on = add_months(forlop.started_on, months)
        if forlop.ended_on is None or on <= forlop.ended_on:
            points.append((kind.value, on))
    if forlop.ended_on is not None:
        points.append((ServiceUseKind.END.value, forlop.ended_on))
    return points


def schedule(forlop: Forlop, registered: dict[str, datetime.datetime], today: datetime.date) -> list[Point]:
    """Every point of the forløp with its state; `registered`: kind → when the first registration of
    this forløp's of that kind was made."""
    points = []
    for kind, on in due_dates(forlop):
        if kind in registered:
            points.append(Point(kind, on, REGISTERED, registered[kind]))
        else:
            points.append(Point(kind, on, DUE if on <= today else COMING))
    return points
