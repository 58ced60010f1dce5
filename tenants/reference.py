"""Writes of the reference data the centre's admin keeps: the kommuner's innbyggertall per year (one
figure per kommune and year, SSB's 1 January) and the centre's nurse staffing per period. Billing and
the insight figures read them through tenants.selectors (`populations_for`, `staffing_on`,
`staffing_between`).

Only a centre's admin writes them, for their own centre and for the kommuner it serves or has served
(its host and its samarbeidsavtaler; tenants.selectors.reference_municipalities): anyone else gets
`ReferenceAdminRequired` (a 403). A write that cannot be made as asked is `ReferenceRefused` (a 400)
saying what was wrong. Every change is audited with what it was before and what it became, in the
event's object id («3230/2026: 7400→7512»), filed under the kommune (a staffing period under the
centre's host) so the centre's admins find it in their log.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Q

from tenants.csv_input import UnreadableCSV, csv_lines, csv_rows, delimiter_of
from tenants.errors import NotAllowed, Refused
from tenants.models import AuditAction, Centre, Municipality, Population, Role, Staffing
from tenants.norwegian import WholeNumberError, date_text, grouped, parse_whole, plain, quantity
from tenants.selectors import reference_centres, reference_municipalities
from tenants.services import OBJECT_ID_LENGTH, audit_record, period_refusal

YEARS = (1900, 2100)
MAX_POPULATION = 10_000_000  # Norway has some 5.6 million; a figure beyond this is a typing error
MAX_FTE = Decimal("999.99")


class ReferenceRefused(Refused):
    """The reference data cannot be written as asked (400; Norwegian, safe to show)."""


class ReferenceAdminRequired(NotAllowed):
    """Only a centre's admin keeps reference data (403)."""


ADMIN_REQUIRED = "Bare senterets administrator kan endre innbyggertall og bemanning."


def reference_admin_required(user) -> None:
    """Refuses (403) anyone who is no centre's admin, before anything is looked up for them."""
    if not reference_centres(user).exists():
        raise ReferenceAdminRequired(ADMIN_REQUIRED)


def _keeps_municipality(user, municipality: Municipality) -> None:
    reference_admin_required(user)
    if not reference_municipalities(user).filter(pk=municipality.pk).exists():
        raise ReferenceAdminRequired(
            f"{municipality.name} er ikke vertskommune eller samarbeidskommune for senteret ditt: "
            "innbyggertallet holdes av senteret kommunen har avtale med."
        )


def _keeps_centre(user, centre: Centre) -> None:
    reference_admin_required(user)
    if not reference_centres(user).filter(pk=centre.pk).exists():
        raise ReferenceAdminRequired(f"Bare administratoren ved {centre.name} kan endre senterets bemanning.")


def _audit(*, action, object_type: str, key: str, before: str, after: str, municipality_id: int, user, request):
    object_id = f"{key}: {before}→{after}"[:OBJECT_ID_LENGTH]
    audit_record(action=action, object_type=object_type, object_id=object_id, request=request, user=user,
                 role=Role.ADMIN, municipality_id=municipality_id)  # fmt: skip


# --- innbyggertall ---------------------------------------------------------------------------------


def population_refusal(year: object, population: object) -> dict[str, str]:
    """What is wrong with a year and a figure, by field ("year", "population"); empty when nothing is."""
    errors = {}
    first, last = YEARS
    if not isinstance(year, int) or isinstance(year, bool) or not first <= year <= last:
        errors["year"] = f"Året må være et årstall mellom {first} og {last} (fikk «{str(year)[:20]}»)."
    if not isinstance(population, int) or isinstance(population, bool) or not 0 < population <= MAX_POPULATION:
        errors["population"] = (
            f"Innbyggertallet må være et helt tall fra 1 til {grouped(MAX_POPULATION)} (fikk «{str(population)[:20]}»)."
        )
    return errors


@dataclass(frozen=True)
class PopulationSet:
    row: Population
    created: bool  # a new kommune and year; False: an existing figure corrected (or already so)
    changed: bool  # False: the figure was already this one, nothing was written


@transaction.atomic
def population_set(*, municipality: Municipality, year: int, population: int, user, request=None) -> PopulationSet:
    """The kommune's innbyggertall on 1 January of `year`. A second figure for the same kommune and
    year corrects the first (billing then adjusts a locked month that used it). Audited with the
    figure before and after; the same figure again writes nothing."""
    _keeps_municipality(user, municipality)
    errors = population_refusal(year, population)
    if errors:
        raise ReferenceRefused(" ".join(errors.values()))
    # One writer per kommune at a time: two first figures for a year cannot both be inserted.
    Municipality.objects.select_for_update().filter(pk=municipality.pk).first()
    row = Population.objects.filter(municipality=municipality, year=year).first()
    if row is not None and row.inhabitants == population:
        return PopulationSet(row, created=False, changed=False)
    before = str(row.inhabitants) if row is not None else "–"
    created = row is None
    if row is None:
        row = Population(municipality=municipality, year=year)
    row.inhabitants = population
    row.save()
    _audit(action=AuditAction.CREATE if created else AuditAction.UPDATE, object_type="population",
           key=f"{municipality.number}/{year}", before=before, after=str(population),
           municipality_id=municipality.pk, user=user, request=request)  # fmt: skip
    return PopulationSet(row, created=created, changed=True)


# CSV import: `kommunenummer;år;innbyggertall`, as SSB's table 07459 exports it (a kommune may be
# «3230», «3230 Gjerdrum» or «K-3230 Gjerdrum»), `;` or `,`, a header line, a BOM, «7 512».
CSV_COLUMNS = ("kommunenummer", "år", "innbyggertall")
_NUMBER = re.compile(r"^(?:K-)?(\d{4})(?:\s.*)?$", re.S)


@dataclass(frozen=True)
class PopulationLine:
    """One line of an imported file and what became of it."""

    line: int  # in the file, the first line being 1
    status: str  # created | updated | unchanged | rejected
    municipality: str = ""
    year: int | None = None
    population: int | None = None
    column: int | None = None  # the column that was wrong (1–3), if one was
    reason: str = ""

    STATUS_LABELS = {"created": "lagt inn", "updated": "rettet", "unchanged": "uendret", "rejected": "avvist"}

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)

    @property
    def where(self) -> str:
        """«linje 4, kolonne 3 (innbyggertall)», or «linje 4»."""
        if self.column is None:
            return f"linje {self.line}"
        return f"linje {self.line}, kolonne {self.column} ({CSV_COLUMNS[self.column - 1]})"

    def as_dict(self) -> dict:
        out: dict = {"line": self.line, "status": self.status, "municipality": self.municipality,
                     "year": self.year, "population": self.population}  # fmt: skip
        return out | ({"column": self.column, "reason": self.reason} if self.status == "rejected" else {})


def _rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every non-empty line, the header (a first line that names no kommune)
    left out."""
    try:
        lines = csv_lines(text)
        if not any(line.strip() for line in lines):
            raise ReferenceRefused("Filen er tom; den skal ha linjer med kommunenummer;år;innbyggertall.")
        first = next(line for line in lines if line.strip())
        delimiter = delimiter_of(first, ";,\t")
        read = csv_rows(lines, delimiter=delimiter)
    except UnreadableCSV as exc:
        raise ReferenceRefused(str(exc)) from None
    rows = [(number, cells) for number, cells in enumerate(read, start=1) if any(cell.strip() for cell in cells)]
    if rows and not _NUMBER.match(rows[0][1][0].strip().strip('"')):
        rows = rows[1:]  # the header: «kommunenummer;år;innbyggertall», «region;år;Personer», …
    return rows


def _line(number: int, cells: list[str], municipalities: dict[str, Municipality], seen: dict) -> PopulationLine:
    cells = [cell.strip() for cell in cells]
    while len(cells) > len(CSV_COLUMNS) and not cells[-1]:
        cells.pop()  # a spreadsheet's trailing empty cells
    if len(cells) != len(CSV_COLUMNS):
        return PopulationLine(number, "rejected", reason=(
            f"linjen har {len(cells)} felt; forventet 3 (kommunenummer;år;innbyggertall)"))  # fmt: skip

    def rejected(column: int, reason: str, **found) -> PopulationLine:
        return PopulationLine(number, "rejected", column=column, reason=reason, **found)

    match = _NUMBER.match(cells[0])
    if not match:
        return rejected(1, f"«{cells[0][:40]}» er ikke et kommunenummer (fire sifre, for eksempel 3230)")
    code = match.group(1)
    if code not in municipalities:
        return rejected(1, f"kommune {code} er ikke vertskommune eller samarbeidskommune for senteret ditt",
                        municipality=code)  # fmt: skip
    try:
        year = parse_whole(cells[1])
    except WholeNumberError:
        return rejected(2, f"«{cells[1][:20]}» er ikke et årstall (for eksempel 2026)", municipality=code)
    try:
        population = parse_whole(cells[2])
    except WholeNumberError as exc:
        return rejected(3, str(exc).rstrip("."), municipality=code, year=year)
    errors = population_refusal(year, population)
    if errors:
        column = 2 if "year" in errors else 3
        return rejected(column, next(iter(errors.values())).rstrip("."), municipality=code, year=year,
                        population=population)  # fmt: skip
    if (code, year) in seen:
        return rejected(1, f"kommune {code} og år {year} står allerede på linje {seen[code, year]}",
                        municipality=code, year=year, population=population)  # fmt: skip
    seen[code, year] = number
    return PopulationLine(number, "valid", municipality=code, year=year, population=population)


def populations_import_csv(*, text: str, user, request=None) -> list[PopulationLine]:
    """Set the innbyggertall of every valid line of a CSV file (`kommunenummer;år;innbyggertall`): one
    result per line with its number, a rejected line saying in which column and what was wrong. Each
    valid line is written (and audited) on its own, so a bad neighbour never keeps it out; the import
    itself is audited with its counts."""
    reference_admin_required(user)
    rows = _rows(text)
    municipalities = {m.number: m for m in reference_municipalities(user)}
    seen: dict[tuple[str, int], int] = {}
    results = []
    for number, cells in rows:
        line = _line(number, cells, municipalities, seen)
        if line.status == "valid":
            assert line.year is not None and line.population is not None  # a valid line has both
            try:
                done = population_set(municipality=municipalities[line.municipality], year=line.year,
                                      population=line.population, user=user, request=request)  # fmt: skip
            except Refused as exc:
                line = PopulationLine(number, "rejected", line.municipality, line.year, line.population,
                                      reason=str(exc).rstrip("."))  # fmt: skip
            else:
                status = "created" if done.created else ("updated" if done.changed else "unchanged")
                line = PopulationLine(number, status, line.municipality, line.year, line.population)
        results.append(line)
    counts = {status: sum(1 for r in results if r.status == status) for status in PopulationLine.STATUS_LABELS}
    audit_record(action=AuditAction.CREATE, object_type="population_import", request=request, user=user,
                 role=Role.ADMIN, object_id=" ".join(f"{k}={v}" for k, v in counts.items()))  # fmt: skip
    return results


# --- staffing ----------------------------------------------------------------------------------------


def _period(valid_from: datetime.date, valid_to: datetime.date | None) -> str:
    return f"{date_text(valid_from)}–{date_text(valid_to) if valid_to else ''}"


def _staffing_text(row: Staffing | None) -> str:
    if row is None:
        return "–"
    return f"{row.valid_from:%Y-%m-%d}..{row.valid_to or ''} {row.nurse_fte}"


def _fte(value: object) -> Decimal:
    try:
        fte = value if isinstance(value, Decimal) else Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise ReferenceRefused(f"Årsverk «{str(value)[:20]}» er ikke et tall (for eksempel 4,6).") from None
    if not fte.is_finite() or not 0 <= fte <= MAX_FTE:
        raise ReferenceRefused(f"Årsverk må være mellom 0 og {plain(MAX_FTE)} (fikk «{str(value)[:20]}»).")
    if fte != fte.quantize(Decimal("0.01")):
        raise ReferenceRefused(f"Årsverk har høyst to desimaler (fikk {plain(fte)}).")
    return fte.quantize(Decimal("0.01"))


def staffing_overlap(centre: Centre, valid_from: datetime.date, valid_to: datetime.date | None,
                     *, apart_from: Staffing | None = None) -> Staffing | None:  # fmt: skip
    """The centre's period that shares a day with this one, if any (`apart_from`: the period being changed)."""
    others = Staffing.objects.filter(centre=centre)
    if apart_from is not None and apart_from.pk is not None:
        others = others.exclude(pk=apart_from.pk)
    if valid_to is not None:
        others = others.filter(valid_from__lte=valid_to)
    return others.filter(Q(valid_to__isnull=True) | Q(valid_to__gte=valid_from)).order_by("valid_from").first()


def overlap_message(other: Staffing) -> str:
    return (
        f"Perioden overlapper bemanningen {_period(other.valid_from, other.valid_to)} "
        f"({quantity(other.nurse_fte)} årsverk). Avslutt den perioden før den nye begynner, eller velg andre datoer."
    )


@dataclass(frozen=True)
class StaffingSaved:
    row: Staffing
    created: bool


@transaction.atomic
def staffing_save(*, centre: Centre, valid_from: datetime.date, valid_to: datetime.date | None, nurse_fte,
                  note: str = "", user, request=None, staffing: Staffing | None = None) -> StaffingSaved:  # fmt: skip
    """A staffing period of the centre: new, or `staffing` changed (its dates, årsverk or note). The
    centre's periods may not overlap: a period that would is refused, naming the one it meets."""
    _keeps_centre(user, centre)
    if staffing is not None and staffing.pk is not None and staffing.centre_id != centre.pk:
        raise ReferenceRefused("En bemanningsperiode kan ikke flyttes til et annet senter.")
    fte = _fte(nurse_fte)
    if period_refusal(valid_from, valid_to):
        raise ReferenceRefused(period_refusal(valid_from, valid_to))
    note = (note or "").strip()
    if len(note) > 200:
        raise ReferenceRefused(f"Merknaden kan ha høyst 200 tegn (fikk {len(note)}).")
    # One writer per centre at a time, so two overlapping periods cannot both pass the check.
    Centre.objects.select_for_update().filter(pk=centre.pk).first()
    before = None
    if staffing is not None and staffing.pk is not None:
        before = Staffing.objects.filter(pk=staffing.pk).first()
    other = staffing_overlap(centre, valid_from, valid_to, apart_from=staffing)
    if other is not None:
        raise ReferenceRefused(overlap_message(other))
    row = staffing if staffing is not None else Staffing(centre=centre)
    row.centre, row.valid_from, row.valid_to, row.nurse_fte, row.note = centre, valid_from, valid_to, fte, note
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:  # the exclusion constraint: written at the same moment by someone else
        raise ReferenceRefused("Perioden overlapper en annen bemanningsperiode for senteret.") from None
    _audit(action=AuditAction.UPDATE if before else AuditAction.CREATE, object_type="staffing",
           key=f"{centre.slug[:20]}/{row.pk}", before=_staffing_text(before), after=_staffing_text(row),
           municipality_id=centre.host_id, user=user, request=request)  # fmt: skip
    return StaffingSaved(row, created=before is None)


def staffing_end(*, staffing: Staffing, valid_to: datetime.date, user, request=None) -> Staffing:
    """Ends a period on `valid_to` (the last day it counts), e.g. the day before a new one begins."""
    return staffing_save(centre=staffing.centre, valid_from=staffing.valid_from, valid_to=valid_to,
                         nurse_fte=staffing.nurse_fte, note=staffing.note, user=user, request=request,
                         staffing=staffing).row  # fmt: skip
