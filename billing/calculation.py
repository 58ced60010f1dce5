"""The arithmetic of the allocation, as pure functions of plain values (no database): months and
days, øre rounding, the base share's largest-remainder split, the patients' active/paused days walked
from their status rows, and the lines. billing.selectors feeds them the rows.

Conventions (documented in docs/billing.md):
- A status row counts from its effective date: a patient started on the 16th of a 30-day month is
  active 15 days (16–30); a forløp ended on the 20th was active up to the 19th.
- A loan counts both its days: lent on the 16th and returned on the 20th is 5 device-days (as ingest
  treats the loan as active on both days).
- A pro-rated amount is rate × days ÷ days in the month, rounded half up to the øre once per line;
  a kommune's total is the sum of its lines and the month's total the sum of the kommuner's."""

from __future__ import annotations

import calendar
import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, NamedTuple, Protocol

from tenants.norwegian import grouped, plain

if TYPE_CHECKING:
    from django.utils.functional import Promise

ACTIVE, PAUSED = "active", "paused"
# What each state-bearing event makes the forløp; any other event (granted, evaluated, moved…)
# changes nothing billable (a move ends the old forløp and starts a new one: rows of their own).
STATE_AFTER = {"started": ACTIVE, "resumed": ACTIVE, "paused": PAUSED, "ended": None}
CENTRE, MUNICIPALITY = "centre", "municipality"  # tenants.FollowUpBy values
FAR_FUTURE = datetime.date(9999, 12, 31)


class Span(Protocol):
    """A stretch of days [first, end): a Month, or any other period walked the same way (the insight
    figures' weeks, billing.calculation's one walk of the status rows for both)."""

    @property
    def first(self) -> datetime.date: ...

    @property
    def end(self) -> datetime.date: ...


FIRST_YEAR, LAST_YEAR = 2000, 2100  # the years billed: a month outside is no page (404) and no API month (400)


class MonthError(ValueError):
    """A month given as text that is not YYYY-MM, or not within FIRST_YEAR–LAST_YEAR (message in Norwegian)."""


@dataclass(frozen=True)
class Month:
    first: datetime.date

    @classmethod
    def parse(cls, text: str) -> Month:
        """The month of «ÅÅÅÅ-MM», within the years billed (so its previous and next months are dates too)."""
        try:
            year, month = (int(part) for part in str(text).split("-"))
            first = datetime.date(year, month, 1)
        except (ValueError, TypeError):
            raise MonthError(f"«{text}» er ikke en måned på formen ÅÅÅÅ-MM (for eksempel 2026-10).") from None
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise MonthError(
                f"«{text}» er utenfor årene plattformen fakturerer: "
                f"velg en måned fra {FIRST_YEAR}-01 til {LAST_YEAR}-12."
            )
        return cls(first)

    @classmethod
    def of(cls, day: datetime.date) -> Month:
        return cls(day.replace(day=1))

    @property
    def days(self) -> int:
        return calendar.monthrange(self.first.year, self.first.month)[1]

    @property
    def last(self) -> datetime.date:
        return self.first.replace(day=self.days)

    @property
    def end(self) -> datetime.date:
        """The day after the month (exclusive end)."""
        return self.last + datetime.timedelta(days=1)

    def next(self) -> Month:
        return Month(self.end)

    def previous(self) -> Month:
        return Month.of(self.first - datetime.timedelta(days=1))

    def __str__(self) -> str:
        return f"{self.first:%Y-%m}"


def round_half_up(value: Fraction) -> int:
    """Whole øre, halves away from zero (the way an invoice rounds)."""
    sign = -1 if value < 0 else 1
    whole, rest = divmod(abs(value), 1)
    return sign * (int(whole) + (1 if rest >= Fraction(1, 2) else 0))


def prorated(rate_ore: int, days: Fraction, month_days: int) -> int:
    return round_half_up(Fraction(rate_ore) * days / month_days)


def largest_remainder(total_ore: int, weights: dict) -> dict:
    """Split `total_ore` by the weights so the parts sum to exactly `total_ore`: every part gets the
    whole øre of its exact share, and the øre left over go one each to the largest remainders (ties
    to the smaller key, so the split is the same every time)."""
    weight_sum = sum(weights.values(), Fraction(0))
    if not weights or weight_sum <= 0:
        return dict.fromkeys(weights, 0)
    exact = {key: Fraction(total_ore) * Fraction(weight) / weight_sum for key, weight in weights.items()}
    parts = {key: int(share // 1) for key, share in exact.items()}
    left = total_ore - sum(parts.values())
    for key in sorted(exact, key=lambda k: (-(exact[k] - parts[k]), k))[:left]:
        parts[key] += 1
    return parts


# --- patient-days from the status history ---------------------------------------------------------


class StatusRow(NamedTuple):
    """A state-bearing status row; `day` is the effective date as a proleptic ordinal
    (date.toordinal(), in SQL `effective_date - '0001-01-01' + 1`): a month of 100,000 patients is
    walked in integers, without a date object per row."""

    patient_id: object
    day: int
    event: str
    municipality_id: int

    @classmethod
    def on(cls, patient_id, day: datetime.date, event: str, municipality_id: int) -> StatusRow:
        return cls(patient_id, day.toordinal(), event, municipality_id)


class Segment(NamedTuple):
    """A stretch of days [start, end) (ordinals) in which a patient was active or paused in one kommune."""

    patient_id: object
    municipality_id: int
    state: str
    start: int
    end: int

    @property
    def days(self) -> int:
        return self.end - self.start


def segments(rows: Iterable[StatusRow], month: Span) -> list[Segment]:
    """The active and paused stretches inside the month (or any span of days), from rows sorted by
    patient and effective order. Rows before the month matter only through the last one (the state
    the month starts in), so the caller may hand in just that one and the month's own rows."""
    first, end = month.first.toordinal(), month.end.toordinal()
    out: list[Segment] = []
    previous = None
    for row in rows:  # plain tuples (patient, day, event, kommune) from billing.selectors: indexed
        if row[2] not in STATE_AFTER:
            continue
        if previous is not None:
            _add(out, previous, row[1] if row[0] == previous[0] else end, first, end)
        previous = row
    if previous is not None:
        _add(out, previous, end, first, end)
    return out


def _add(out: list, row, until: int, first: int, end: int) -> None:
    state = STATE_AFTER[row[2]]
    start, stop = max(row[1], first), min(until, end)
    if state and start < stop:
        out.append(Segment(row[0], row[3], state, start, stop))


# --- which days a kommune's agreement covers ------------------------------------------------------


@dataclass
class Cover:
    """Per kommune, the stretches [start, end) of its agreements with the centre and who follows up.
    Every read goes through `stretches`, which counts each day once: agreements of one kommune that
    overlap (tenants.services.agreement_refusal refuses them now, but older rows may) never bill a
    patient-day, a device-day or an oppstart twice."""

    periods: dict[int, list[tuple[datetime.date, datetime.date, str]]] = field(default_factory=dict)

    def stretches(self, municipality_id: int) -> list[tuple[datetime.date, datetime.date, str]]:
        """The kommune's periods made disjoint, in date order: a day two agreements cover stays the
        earlier one's (the one in force when the later began), and touching stretches with the same
        follow-up are one (so a month they cover together is a whole month)."""
        out: list[tuple[datetime.date, datetime.date, str]] = []
        for p_start, p_end, follow_up_by in sorted(self.periods.get(municipality_id, ()), key=lambda p: p[0]):
            start = max(p_start, out[-1][1]) if out else p_start  # out[-1] ends last: the days taken so far
            if start >= p_end:
                continue
            if out and out[-1][1] == start and out[-1][2] == follow_up_by:
                out[-1] = (out[-1][0], p_end, follow_up_by)
            else:
                out.append((start, p_end, follow_up_by))
        return out

    def days(self, municipality_id: int, start: datetime.date, end: datetime.date) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for p_start, p_end, follow_up_by in self.stretches(municipality_id):
            overlap = (min(end, p_end) - max(start, p_start)).days
            if overlap > 0:
                out[follow_up_by] += overlap
        return out

    def covered(self, municipality_id: int, first: datetime.date, last: datetime.date) -> int:
        """How many of the days first–last (both counted, as a loan's) the kommune's agreements cover."""
        return sum(self.days(municipality_id, first, last + datetime.timedelta(days=1)).values())

    def covers_month(self, municipality_id: int, month: Month) -> bool:
        return bool(self.days(municipality_id, month.first, month.end))

    def follow_up_on(self, municipality_id: int, day: datetime.date) -> str | None:
        for p_start, p_end, follow_up_by in self.stretches(municipality_id):
            if p_start <= day < p_end:
                return follow_up_by
        return None

    def whole_month(self, month: Month) -> dict[int, str]:
        """Kommuner one stretch covers for the whole month → who follows up (the common case,
        counted without walking the periods for every patient)."""
        return {
            m: follow_up_by
            for m in self.periods
            for p_start, p_end, follow_up_by in self.stretches(m)
            if p_start <= month.first and month.end <= p_end
        }

    def days_between(self, municipality_id: int, start: int, end: int) -> dict[str, int]:
        return self.days(municipality_id, datetime.date.fromordinal(start), datetime.date.fromordinal(end))


@dataclass
class DayCounts:
    """Patient-days per kommune: active and paused days the centre follows up, and all days
    (licence) whoever follows up."""

    active_centre: int = 0
    paused_centre: int = 0
    active_any: int = 0
    paused_any: int = 0
    patients: set = field(default_factory=set)


def day_counts(segs: Iterable[Segment], cover: Cover, month: Month, *, by_patient: bool = False) -> dict:
    """Patient-days per kommune (the lines' quantities), or per (kommune, patient) with `by_patient`:
    the same walk either way, so a kommune's patients add up to its lines."""
    whole = cover.whole_month(month)
    counts: dict = defaultdict(DayCounts)
    for seg in segs:
        follow_up_by = whole.get(seg.municipality_id)
        if follow_up_by:
            all_days = seg.end - seg.start
            centre_days = all_days if follow_up_by == CENTRE else 0
        else:
            days = cover.days_between(seg.municipality_id, seg.start, seg.end)
            if not days:
                continue  # a kommune without an agreement with this centre is not its to bill
            centre_days, all_days = days.get(CENTRE, 0), sum(days.values())
        entry = counts[(seg.municipality_id, seg.patient_id) if by_patient else seg.municipality_id]
        entry.patients.add(seg.patient_id)
        if seg.state == ACTIVE:
            entry.active_centre += centre_days
            entry.active_any += all_days
        else:
            entry.paused_centre += centre_days
            entry.paused_any += all_days
    return counts


# --- the lines ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of a kommune's allocation: quantity × rate (÷ divisor, the month's days for a
    pro-rated line) = amount, in øre, with the explanation the PDF and the month page show."""

    municipality_id: int
    component: str
    quantity: Decimal
    unit: str
    rate_ore: int
    amount_ore: int
    explanation: str = ""
    divisor: int = 1
    item: str = ""  # an equipment line's device type
    corrects: str = ""  # an adjustment's component
    reference_month: datetime.date | None = None  # an adjustment's locked month

    @property
    def key(self) -> tuple:
        return (self.municipality_id, self.component, self.item, self.corrects, self.reference_month)


@dataclass
class Basis:
    """What one month's lines are computed from: the counts per kommune, never a patient's name."""

    month: Month
    counts: dict[int, DayCounts]
    device_days: dict[tuple[int, str], int]  # (kommune, device type) → device-days
    starts: dict[int, int]  # kommune → oppstarter in the month
    base_members: list[int]  # kommuner that share the base amount
    populations: dict[int, tuple[int, int | None]]  # kommune → (inhabitants, year of the figure)
    device_labels: dict[str, str | Promise] = field(default_factory=dict)  # a label may be lazily translated


def month_lines(model, basis: Basis, kr) -> list[Line]:
    """Every line of the month under `model` (a billing.PriceModel or anything with its fields);
    `kr` formats øre for the explanations. Lines with nothing to charge are left out."""
    lines = _base_lines(model, basis, kr)
    days = basis.month.days
    for municipality_id, count in sorted(basis.counts.items()):
        lines += _patient_lines(model, municipality_id, count, days, kr)
    for (municipality_id, device_type), device_days in sorted(basis.device_days.items()):
        rate = int((model.equipment_ore or {}).get(device_type) or 0)
        if rate and device_days:
            label = basis.device_labels.get(device_type, device_type)
            lines.append(Line(
                municipality_id, "equipment", Decimal(device_days), "enhetsdøgn", rate,
                prorated(rate, Fraction(device_days), days),
                f"{label}: {device_days} enhetsdøgn × {kr(rate)} per enhetsmåned ÷ {days} døgn", days, device_type,
            ))  # fmt: skip
    for municipality_id, started in sorted(basis.starts.items()):
        if model.start_fee_ore and started:
            lines.append(Line(
                municipality_id, "start_fee", Decimal(started), "oppstarter", model.start_fee_ore,
                model.start_fee_ore * started, f"{started} oppstart(er) × {kr(model.start_fee_ore)}",
            ))  # fmt: skip
    return sorted(lines, key=lambda line: (line.municipality_id, COMPONENT_ORDER.index(line.component), line.item))


COMPONENT_ORDER = ["base", "follow_up", "licence", "equipment", "start_fee", "adjustment"]


def follow_up_days(count: DayCounts, paused_percent: int) -> Fraction:
    """The follow-up line's quantity: active days the centre follows up, paused days at their percent."""
    return Fraction(count.active_centre) + Fraction(count.paused_centre * paused_percent, 100)


def licence_days(count: DayCounts) -> int:
    """The licence line's quantity: active and paused days, whoever follows up."""
    return count.active_any + count.paused_any


def _patient_lines(model, municipality_id: int, count: DayCounts, days: int, kr) -> list[Line]:
    lines = []
    weighted = follow_up_days(count, model.paused_percent)
    if model.follow_up_ore and weighted:
        paused = f" + {count.paused_centre} pausedøgn à {model.paused_percent} %" if count.paused_centre else ""
        lines.append(Line(
            municipality_id, "follow_up", _decimal(weighted), "pasientdøgn", model.follow_up_ore,
            prorated(model.follow_up_ore, weighted, days),
            f"{count.active_centre} aktive døgn{paused} × {kr(model.follow_up_ore)} per pasientmåned ÷ {days} døgn",
            days,
        ))  # fmt: skip
    licensed = licence_days(count)
    if model.licence_ore and licensed:
        lines.append(Line(
            municipality_id, "licence", Decimal(licensed), "pasientdøgn", model.licence_ore,
            prorated(model.licence_ore, Fraction(licensed), days),
            f"{len(count.patients)} pasient(er), {licensed} pasientdøgn (pause teller fullt) × "
            f"{kr(model.licence_ore)} per pasientmåned ÷ {days} døgn",
            days,
        ))  # fmt: skip
    return lines


def _decimal(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.001"))


def base_weights(model, basis: Basis) -> dict[int, Fraction]:
    """Each member's share of the base amount as an exact fraction (the shares sum to 1)."""
    members = basis.base_members
    if not members:
        return {}
    equal = {m: Fraction(1, len(members)) for m in members}
    total_population = sum(basis.populations.get(m, (0, None))[0] for m in members)
    if model.base_key == "equal" or total_population == 0:
        return equal
    by_population = {m: Fraction(basis.populations.get(m, (0, None))[0], total_population) for m in members}
    if model.base_key == "population":
        return by_population
    part = Fraction(model.base_equal_percent, 100)
    return {m: part * equal[m] + (1 - part) * by_population[m] for m in members}


def _base_lines(model, basis: Basis, kr) -> list[Line]:
    weights = base_weights(model, basis)
    if not model.base_ore or not weights:
        return []
    parts = largest_remainder(model.base_ore, weights)
    members = len(weights)
    total_population = sum(basis.populations.get(m, (0, None))[0] for m in weights)
    lines = []
    for municipality_id in sorted(weights):
        inhabitants, year = basis.populations.get(municipality_id, (0, None))
        share = plain(_decimal(weights[municipality_id] * 100))
        population = f"{grouped(inhabitants)} av {grouped(total_population)} innbyggere"
        population += f" (1.1.{year})" if year else " (innbyggertall uten år)"
        if model.base_key == "equal" or total_population == 0:
            quantity, unit, how = Decimal(1), "kommune", f"likt: 1 av {members} kommuner"
        elif model.base_key == "population":
            quantity, unit, how = Decimal(inhabitants), "innbyggere", f"etter innbyggertall: {population}"
        else:
            quantity, unit = Decimal(inhabitants), "innbyggere"
            how = (f"{model.base_equal_percent} % likt (1 av {members}) + {100 - model.base_equal_percent} % "
                   f"etter innbyggertall ({population})")  # fmt: skip
        lines.append(Line(
            municipality_id, "base", quantity, unit, model.base_ore, parts[municipality_id],
            f"Fast andel {kr(model.base_ore)}, {how} = {share} % (største rest-metoden, sum stemmer på øret)",
        ))  # fmt: skip
    return lines


# --- a kommune's lines broken down by patient (the koordinator's basis) ---------------------------


@dataclass
class PatientFigures:
    """What one patient adds to a kommune's month: their patient-days, device-days per device type
    and oppstarter — the same figures the kommune's lines are the sums of."""

    counts: DayCounts = field(default_factory=DayCounts)
    device_days: dict[str, int] = field(default_factory=dict)
    starts: int = 0

    def add(self, other: PatientFigures) -> None:
        """Fold another patient in (the patients the viewer may not name, counted as one row)."""
        for name in ("active_centre", "paused_centre", "active_any", "paused_any"):
            setattr(self.counts, name, getattr(self.counts, name) + getattr(other.counts, name))
        self.counts.patients |= other.counts.patients
        for item, days in other.device_days.items():
            self.device_days[item] = self.device_days.get(item, 0) + days
        self.starts += other.starts


PER_PATIENT = ("follow_up", "licence", "equipment", "start_fee")  # the base share is the kommune's own


def line_quantity(line: Line, figures: PatientFigures, paused_percent: int) -> Fraction:
    """One patient's part of a line's quantity, by the same rule month_lines counts the line with."""
    if line.component == "follow_up":
        return follow_up_days(figures.counts, paused_percent)
    if line.component == "licence":
        return Fraction(licence_days(figures.counts))
    if line.component == "equipment":
        return Fraction(figures.device_days.get(line.item, 0))
    if line.component == "start_fee":
        return Fraction(figures.starts)
    raise ValueError(f"{line.component} is not counted per patient")


@dataclass
class LinePart:
    """One patient's part of one line: their quantity and their share of its amount."""

    quantity: Fraction
    amount_ore: int


@dataclass
class Breakdown:
    """A kommune's lines and each patient's part of them (patient → line key → part). The amount of
    a line is split over its patients by their quantities with the largest remainder, so the parts
    sum to the line's amount to the øre, as its quantities sum to its quantity."""

    lines: list[Line]
    parts: dict[object, dict[tuple, LinePart]]

    def quantity(self, line: Line) -> Fraction:
        return sum((p[line.key].quantity for p in self.parts.values() if line.key in p), Fraction(0))

    def amount_ore(self, line: Line) -> int:
        return sum(p[line.key].amount_ore for p in self.parts.values() if line.key in p)

    def adds_up(self, line: Line) -> bool:
        return self.quantity(line) == Fraction(line.quantity) and self.amount_ore(line) == line.amount_ore

    def patient_amount_ore(self, patient_id) -> int:
        return sum(part.amount_ore for part in self.parts.get(patient_id, {}).values())


def breakdown(lines: Iterable[Line], figures: dict, paused_percent: int) -> Breakdown:
    """Each patient's part of the kommune's per-patient lines (follow-up, licence, equipment,
    oppstart); the base share stays the kommune's. `figures`: patient → PatientFigures."""
    lines = [line for line in lines if line.component in PER_PATIENT]
    parts: dict[object, dict[tuple, LinePart]] = {patient: {} for patient in figures}
    for line in lines:
        quantities = {p: q for p, f in figures.items() if (q := line_quantity(line, f, paused_percent))}
        amounts = largest_remainder(line.amount_ore, quantities)
        for patient, quantity in quantities.items():
            parts[patient][line.key] = LinePart(quantity, amounts[patient])
    return Breakdown(lines, parts)
