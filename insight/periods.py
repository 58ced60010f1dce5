"""A period (from, to, both days included) split into buckets: ISO weeks (Monday to Sunday) or
calendar months, the first and last clipped to the period. Pure; the API's parameters are read here
too, so a page asks the same way and gets the same Norwegian errors."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from tenants.norwegian import date_text

WEEK, MONTH = "week", "month"
GRANULARITIES = (WEEK, MONTH)
DEFAULT_MONTHS = 12  # the period when none is asked for: the last twelve months up to today
MAX_DAYS = 3 * 366  # a longer period is refused (a page never needs one; it keeps a read bounded)
YEARS = (2000, 2999)
DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y")


@dataclass(frozen=True)
class Bucket:
    """The days first … last (both included) of one week or month of the period."""

    first: datetime.date
    last: datetime.date
    label: str  # «2026-W09», «2026-03»

    @property
    def end(self) -> datetime.date:
        """The day after the bucket (exclusive end, billing.calculation.Span)."""
        return self.last + datetime.timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


@dataclass(frozen=True)
class Period:
    first: datetime.date
    last: datetime.date
    granularity: str
    buckets: tuple[Bucket, ...]

    @property
    def end(self) -> datetime.date:
        return self.last + datetime.timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def whole(self) -> Bucket:
        """The period as one bucket (the figures «for the whole period»)."""
        return Bucket(self.first, self.last, f"{self.first.isoformat()}/{self.last.isoformat()}")


class PeriodError(ValueError):
    """Parameters that make no period: `errors` maps the parameter to what was wrong (Norwegian)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _month_first(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def _next_month(day: datetime.date) -> datetime.date:
    return (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def split(first: datetime.date, last: datetime.date, granularity: str) -> tuple[Bucket, ...]:
    """The buckets of [first, last]: each ISO week (from its Monday) or calendar month it touches,
    clipped to the period."""
    if granularity not in GRANULARITIES:
        raise ValueError(granularity)
    buckets = []
    start = first - datetime.timedelta(days=first.weekday()) if granularity == WEEK else _month_first(first)
    while start <= last:
        after = start + datetime.timedelta(days=7) if granularity == WEEK else _next_month(start)
        if granularity == WEEK:
            year, week, _ = start.isocalendar()
            label = f"{year}-W{week:02d}"
        else:
            label = f"{start:%Y-%m}"
        buckets.append(Bucket(max(start, first), min(after - datetime.timedelta(days=1), last), label))
        start = after
    return tuple(buckets)


def _date(raw: str, label: str) -> datetime.date:
    for fmt in DATE_FORMATS:
        try:
            day = datetime.datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
        low, high = YEARS
        if not low <= day.year <= high:
            raise ValueError(f"{label} {date_text(day)} må være mellom år {low} og {high}.")
        return day
    raise ValueError(f"{label} «{raw[:40]}» er ikke en dato; skriv den som åååå-mm-dd eller dd.mm.åååå.")


def months_back(day: datetime.date, months: int) -> datetime.date:
    """The first of the month `months` - 1 months before `day`'s month (12: the last twelve months)."""
    index = day.year * 12 + day.month - 1 - (months - 1)
    return datetime.date(index // 12, index % 12 + 1, 1)


def period_parse(raw_from: str = "", raw_to: str = "", granularity: str = "", *, today: datetime.date) -> Period:
    """The period asked for. `to` defaults to today and is cut at today (a day not yet lived has no
    figures); `from` defaults to the first of the month eleven months before `to`; `granularity`
    to month. Raises PeriodError naming each wrong parameter."""
    errors: dict[str, str] = {}
    dates: dict[str, datetime.date | None] = {}
    for key, raw, label in (("from", raw_from, "Fra-datoen"), ("to", raw_to, "Til-datoen")):
        raw = (raw or "").strip()
        try:
            dates[key] = _date(raw, label) if raw else None
        except ValueError as exc:
            errors[key] = str(exc)
    granularity = (granularity or "").strip() or MONTH
    if granularity not in GRANULARITIES:
        errors["granularity"] = (
            f"Inndelingen «{granularity[:20]}» finnes ikke; velg «week» (uker) eller «month» (måneder)."
        )
    if errors:
        raise PeriodError(errors)
    last = min(dates["to"] or today, today)
    first = dates["from"] or months_back(last, DEFAULT_MONTHS)
    if first > today:
        raise PeriodError({"from": f"Fra-datoen ({date_text(first)}) ligger fram i tid; det finnes ingen tall ennå."})
    if first > last:
        raise PeriodError({"from": f"Fra-datoen ({date_text(first)}) er etter til-datoen ({date_text(last)})."})
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError({"from": f"Perioden er for lang: høyst {MAX_DAYS} dager (tre år)."})
    return Period(first, last, granularity, split(first, last, granularity))
