"""The gevinst's writes: a patient's service use (a form, the API, the CSV import from an EPJ extract),
a brukerundersøkelse entered from paper, and a row of the kommune's comparison group. Each refuses by
the policy (insight.gevinst.access: a NotAllowed, 403) and says in Norwegian what was wrong and where
(a GevinstRefused, 400), and each write is audited: a patient's under the patient, a comparison
row under its kommune (it names no one)."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from insight.gevinst.access import (
    COMPARISON_REFUSED,
    REGISTER_REFUSED,
    GevinstRoleRequired,
    can_keep_comparison,
    can_register_gevinst,
)
from insight.models import (
    FIELD_NAMES,
    HOURS_PER_WEEK_MAX,
    SERVICE_FIELDS,
    ComparisonServiceUse,
    ServiceUse,
    ServiceUseKind,
    Source,
    SurveyAnswer,
)
from insight.periods import _date
from measurements.survey import BY_CODE, QUESTIONS, answer_errors
from patients import national_id
from patients.access import require
from patients.models import Patient
from patients.selectors import records_by_national_id, visible_patients
from tenants.csv_input import UnreadableCSV, csv_lines, csv_rows, delimiter_of
from tenants.errors import Refused
from tenants.models import AuditAction, Municipality
from tenants.norwegian import date_text
from tenants.services import audit_record, audit_record_many_objects

PERIOD_DAYS_MAX = 548  # 18 months: the longest the trial projects mapped, null-punkt to end
COUNT_MAX = 10_000
COMMENT_MAX = 5000
NUMBER = re.compile(r"-?\d{1,9}(?:[.,]\d+)?")  # «2,5» as a Norwegian writes it, or «2.5»
CODE = re.compile(r"[A-Za-z0-9ÆØÅæøå_-]{1,20}")
LABELS = {f.name: f for f in SERVICE_FIELDS}


class GevinstRefused(Refused):
    """The registration cannot be saved as given (message in Norwegian, safe to show; a 400).
    `problems`: (field, what is wrong) for a form to show beside its fields."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__(" ".join(_sentence(message) for _field, message in problems))
        self.problems = problems
        if len({f for f, _m in problems}) == 1:
            self.field = problems[0][0]


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


# --- checking one registration's figures ----------------------------------------------------------


def _value_problem(name: str, value: Any, days: int | None) -> str | None:
    field = LABELS[name]
    label = str(field.label).lower()
    value = _number(value) if isinstance(value, str) else value
    if value is None or value == "":
        return f"{label} mangler (skriv 0 om pasienten ikke hadde tjenesten)"
    if isinstance(value, str) and not NUMBER.fullmatch(value):
        return f"{label}: «{value[:20]}» er ikke et tall (skriv for eksempel 2,5 eller 3)"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or isinstance(value, bool):
        return f"{label}: «{str(value)[:20]}» er ikke et tall"
    if number < 0:
        return f"{label} kan ikke være negativ"
    if field.per_week:
        if number > HOURS_PER_WEEK_MAX or number != number.quantize(Decimal("0.01")):
            return f"{label} må være mellom 0 og 168 timer per uke, med høyst to desimaler"
        return None
    if number != number.to_integral_value():
        return f"{label} må være et helt tall"
    if number > COUNT_MAX:
        return f"{label} kan være høyst {COUNT_MAX}"
    if name in ("short_stay_days", "bed_days") and days is not None and number > days:
        return f"{label} ({number}) kan ikke være flere enn dagene i perioden ({days})"
    return None


def use_problems(*, kind: str, period_from, period_to, values: dict, today: datetime.date) -> list[tuple[str, str]]:
    """What is wrong with a registration of service use (the patient's or the comparison group's), by
    field: the kind, the period (not ending in the future, at most 18 months), each figure."""
    problems = []
    if kind not in ServiceUseKind.values:
        problems.append(("kind", f"ukjent registrering «{str(kind)[:20]}»; bruk {', '.join(ServiceUseKind.values)}"))
    days = None
    if period_from is None:
        problems.append(("period_from", "perioden mangler fra-dato"))
    if period_to is None:
        problems.append(("period_to", "perioden mangler til-dato"))
    elif period_to > today:
        problems.append(("period_to", f"perioden kan ikke slutte fram i tid ({date_text(period_to)})"))
    if period_from is not None and period_to is not None:
        days = (period_to - period_from).days + 1
        if days < 1:
            problems.append(
                ("period_to", f"perioden slutter ({date_text(period_to)}) før den begynner ({date_text(period_from)})")
            )
            days = None
        elif days > PERIOD_DAYS_MAX:
            problems.append(("period_from", f"perioden er {days} dager; høyst {PERIOD_DAYS_MAX} (18 måneder)"))
    for name in FIELD_NAMES:
        problem = _value_problem(name, values.get(name), days)
        if problem:
            problems.append((name, problem))
    return problems


def _values(values: dict) -> dict[str, Decimal | int]:
    given = {name: _number(value) if isinstance(value, str) else value for name, value in values.items()}
    return {
        f.name: Decimal(str(given[f.name])) if f.per_week else int(Decimal(str(given[f.name]))) for f in SERVICE_FIELDS
    }


def _duplicate(kind: str, period_from, period_to) -> str:
    return (
        f"{ServiceUseKind(kind).label} for perioden {date_text(period_from)}–{date_text(period_to)} "
        f"er registrert fra før"
    )


# --- a patient's service use ---------------------------------------------------------------------


@transaction.atomic
def service_use_register(
    *,
    patient: Patient,
    user,
    kind: str,
    period_from: datetime.date | None,
    period_to: datetime.date | None,
    values: dict,
    at: datetime.datetime | None = None,
    source: str = Source.FORM,
    request=None,
) -> ServiceUse:
    """Register the patient's use of services over a period at one point of the forløp (null-punkt, 6
    or 12 months, end), in the patient's kommune. `values`: each of insight.models.FIELD_NAMES."""
    require(can_register_gevinst, user, patient, GevinstRoleRequired(REGISTER_REFUSED))
    now = timezone.now()
    problems = use_problems(
        kind=kind, period_from=period_from, period_to=period_to, values=values, today=timezone.localdate()
    )
    if at is not None and at > now + datetime.timedelta(minutes=5):
        problems.append(("at", "registreringstidspunktet ligger fram i tid"))
    if problems:
        raise GevinstRefused(problems)
    assert period_from is not None and period_to is not None  # a missing date is one of the problems
    if ServiceUse.objects.filter(patient=patient, kind=kind, period_from=period_from, period_to=period_to).exists():
        raise GevinstRefused([("kind", _duplicate(kind, period_from, period_to))])
    try:
        with transaction.atomic():
            row = ServiceUse.objects.create(
                patient=patient,
                municipality_id=patient.municipality_id,
                kind=kind,
                period_from=period_from,
                period_to=period_to,
                source=source,
                registered_by=user,
                registered_at=at or now,
                **_values(values),
            )
    except IntegrityError:  # registered at the same moment by someone else
        raise GevinstRefused([("kind", _duplicate(kind, period_from, period_to))]) from None
    audit_record(
        action=AuditAction.CREATE,
        object_type="service_use",
        object_id=row.pk,
        patient=patient,
        request=request,
        user=user,
    )
    return row


# --- a brukerundersøkelse from paper -------------------------------------------------------------


@transaction.atomic
def survey_register(
    *, patient: Patient, user, answered_on: datetime.date | None, answers: dict, comment: str = "", request=None
) -> SurveyAnswer:
    """A brukerundersøkelse entered from the paper form: {question: option} of the questions
    answered (measurements.survey), a question left out is «ikke besvart»; a comment if written."""
    require(can_register_gevinst, user, patient, GevinstRoleRequired(REGISTER_REFUSED))
    answers = {code: given for code, given in answers.items() if given not in (None, "")}
    comment = (comment or "").strip()
    problems = [
        (code, f"{BY_CODE[code].short if code in BY_CODE else code}: {message}")
        for code, message in answer_errors(answers)
    ]
    if answered_on is None:
        problems.append(("answered_on", "datoen pasienten svarte mangler"))
    elif answered_on > timezone.localdate():
        problems.append(("answered_on", f"svardatoen ({date_text(answered_on)}) ligger fram i tid"))
    if len(comment) > COMMENT_MAX:
        problems.append(("comment", f"kommentaren kan ha høyst {COMMENT_MAX} tegn (fikk {len(comment)})"))
    if not answers and not comment:
        problems.append(("answers", "skjemaet er tomt: kryss av minst ett svar eller skriv kommentaren"))
    if problems:
        raise GevinstRefused(problems)
    assert answered_on is not None  # a missing date is one of the problems
    row = SurveyAnswer.objects.create(
        patient=patient,
        municipality_id=patient.municipality_id,
        answered_on=answered_on,
        comment=comment,
        registered_by=user,
        **{q.code: answers.get(q.code, "") for q in QUESTIONS},
    )
    audit_record(
        action=AuditAction.CREATE,
        object_type="survey_answer",
        object_id=row.pk,
        patient=patient,
        request=request,
        user=user,
    )
    return row


# --- the kommune's comparison group ----------------------------------------------------------------


def _code_problem(code: str) -> str | None:
    if not code:
        return "løpenummeret mangler"
    if not CODE.fullmatch(code):
        return "løpenummeret kan ha høyst 20 tegn: bokstaver, sifre, - og _"
    if re.search(r"\d{6}", code):
        return (
            "løpenummeret skal være anonymt: ikke et fødselsnummer eller en fødselsdato (høyst fem sifre "
            "etter hverandre)"
        )
    return None


@transaction.atomic
def comparison_register(
    *, municipality: Municipality, user, code: str, kind: str, period_from, period_to, values: dict, request=None
) -> ComparisonServiceUse:
    """A row of the kommune's comparison group: one anonymous person's (by løpenummer) service use over
    a period, with the patients' fields and points."""
    require(lambda u, m: can_keep_comparison(u, m.pk), user, municipality, GevinstRoleRequired(COMPARISON_REFUSED))
    code = (code or "").strip()
    problems = use_problems(
        kind=kind, period_from=period_from, period_to=period_to, values=values, today=timezone.localdate()
    )
    if problem := _code_problem(code):
        problems.insert(0, ("code", problem))
    if problems:
        raise GevinstRefused(problems)
    taken = ComparisonServiceUse.objects.filter(
        municipality=municipality, code=code, kind=kind, period_from=period_from, period_to=period_to
    )
    if taken.exists():
        raise GevinstRefused([("kind", f"{code}: " + _duplicate(kind, period_from, period_to))])
    row = ComparisonServiceUse.objects.create(
        municipality=municipality,
        code=code,
        kind=kind,
        period_from=period_from,
        period_to=period_to,
        registered_by=user,
        **_values(values),
    )
    audit_record(
        action=AuditAction.CREATE,
        object_type="comparison_service_use",
        object_id=row.pk,
        municipality_id=municipality.pk,
        request=request,
        user=user,
    )
    return row


# --- the CSV import from an EPJ extract ----------------------------------------------------------

KINDS = {
    **dict.fromkeys(("baseline", "null-punkt", "nullpunkt", "null", "0"), ServiceUseKind.BASELINE),
    **dict.fromkeys(("month_6", "6", "6 mnd", "6mnd", "6 måneder"), ServiceUseKind.MONTH_6),
    **dict.fromkeys(("month_12", "12", "12 mnd", "12mnd", "12 måneder"), ServiceUseKind.MONTH_12),
    **dict.fromkeys(("end", "slutt", "avslutning"), ServiceUseKind.END),
}
# Each column: the Norwegian heading and the API's name are both understood, in any order.
COLUMNS = {
    "fodselsnummer": "national_id",
    "fødselsnummer": "national_id",
    "national_id": "national_id",
    "type": "kind",
    "kind": "kind",
    "registrering": "kind",
    "fra": "from",
    "from": "from",
    "til": "to",
    "to": "to",
    **{f.csv: f.name for f in SERVICE_FIELDS},
    **{f.name: f.name for f in SERVICE_FIELDS},
}
CSV_HEADER = ["fodselsnummer", "type", "fra", "til", *(f.csv for f in SERVICE_FIELDS)]


@dataclass(frozen=True)
class ImportLine:
    line: int  # in the file, the heading being line 1
    national_id: str  # masked: 010180 *****
    status: str  # created | rejected
    reason: str = ""
    patient_name: str = ""  # a created line's patient (audited as a write)

    def as_dict(self) -> dict:
        out = {"line": self.line, "national_id": self.national_id, "status": self.status}
        return out | ({"reason": self.reason} if self.reason else {})


def _columns(heading: list[str]) -> list[str]:
    names = [cell.strip().lower() for cell in heading]
    unknown = [n for n in names if n not in COLUMNS]
    wanted = {"national_id", "kind", "from", "to", *FIELD_NAMES}
    found = [COLUMNS.get(n, "") for n in names]
    if unknown or set(found) != wanted or len(found) != len(wanted):
        detail = f"ukjent kolonne «{unknown[0][:40]}»; " if unknown else ""
        raise GevinstRefused([("file", f"linje 1 må være overskriften; {detail}bruk {';'.join(CSV_HEADER)}")])
    return found


def _rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        lines = csv_lines(text)
        rows = csv_rows(lines, delimiter=delimiter_of(lines[0] if lines else "", ";\t"))
    except UnreadableCSV as exc:
        raise GevinstRefused([("file", str(exc))]) from None
    if not lines or not lines[0].strip():
        raise GevinstRefused([("file", f"filen er tom; første linje skal være overskriften {';'.join(CSV_HEADER)}")])
    columns = _columns(rows[0])
    return columns, [(n, row) for n, row in enumerate(rows[1:], start=2) if any(cell.strip() for cell in row)]


def _number(raw: str) -> str:
    """«2,5» and «2.5» alike (a Norwegian extract writes the comma); anything else is left for the
    figure's own check to name."""
    raw = raw.strip()
    return raw.replace(",", ".", 1) if NUMBER.fullmatch(raw) else raw


def _masked(raw: str) -> str:
    return national_id.mask(raw) if len(raw) == 11 and raw.isdigit() else raw[:6] + (" *****" if len(raw) > 6 else "")


@dataclass
class _Parsed:
    patient: Patient | None
    kind: str
    period_from: datetime.date | None
    period_to: datetime.date | None
    values: dict


def _parse_line(cells: dict, patients: dict[str, Patient], municipality, problems: list[str]) -> _Parsed:
    raw_id = cells["national_id"].strip()
    try:
        national_id.parse(raw_id, allow_synthetic=True)
    except national_id.InvalidNationalId as exc:
        problems.append(f"fødselsnummer: {exc}")
    patient = patients.get(raw_id)
    if patient is None and not problems:
        problems.append(f"ingen pasient med dette fødselsnummeret i {municipality.name} som du følger opp")
    kind = KINDS.get(cells["kind"].strip().lower(), cells["kind"].strip())
    dates: dict[str, datetime.date | None] = {}
    for key, label in (("from", "Fra-datoen"), ("to", "Til-datoen")):
        raw = cells[key].strip()
        try:
            dates[key] = _date(raw, label) if raw else None
        except ValueError as exc:
            dates[key] = None
            problems.append(str(exc))
    values = {name: cells[name] for name in FIELD_NAMES}
    return _Parsed(patient, str(kind), dates["from"], dates["to"], values)


@transaction.atomic
def service_use_import_csv(*, municipality: Municipality, user, text: str, request=None) -> list[ImportLine]:
    """The kommune's patients' service use from an EPJ extract (`fodselsnummer;type;fra;til;` and the
    figures, semicolons, a heading first): one result per line with its number; a rejected line says
    why in Norwegian, and the valid lines are stored whatever their neighbours. A fødselsnummer is
    looked up among the kommune's patients the user follows up."""
    require(
        lambda u, m: can_keep_comparison(u, m.pk),
        user,
        municipality,
        GevinstRoleRequired("Bare sykepleiere og koordinatorer i kommunen kan importere tjenestebruk."),
    )
    columns, rows = _rows(text)
    ids = {row[columns.index("national_id")].strip() for _n, row in rows if len(row) == len(columns)}
    patients = records_by_national_id(visible_patients(user).filter(municipality=municipality), ids)
    taken = set(
        ServiceUse.objects.filter(patient__in=list(patients.values())).values_list(
            "patient_id", "kind", "period_from", "period_to"
        )
    )
    today, now = timezone.localdate(), timezone.now()
    results, created = [], []
    for number, row in rows:
        if len(row) != len(columns):
            results.append(ImportLine(number, "", "rejected", f"Linjen har {len(row)} felt; forventet {len(columns)}."))
            continue
        cells = dict(zip(columns, row, strict=True))
        problems: list[str] = []
        parsed = _parse_line(cells, patients, municipality, problems)
        problems += [
            m
            for _f, m in use_problems(
                kind=parsed.kind,
                period_from=parsed.period_from,
                period_to=parsed.period_to,
                values=parsed.values,
                today=today,
            )
        ]
        masked = _masked(cells["national_id"].strip())
        key = (parsed.patient.pk if parsed.patient else None, parsed.kind, parsed.period_from, parsed.period_to)
        if not problems and key in taken:
            problems.append(
                _duplicate(parsed.kind, parsed.period_from, parsed.period_to) + " (eller står tidligere i filen)"
            )
        if problems or parsed.patient is None or parsed.period_from is None or parsed.period_to is None:
            results.append(ImportLine(number, masked, "rejected", " ".join(_sentence(p) for p in problems)))
            continue
        taken.add((parsed.patient.pk, parsed.kind, parsed.period_from, parsed.period_to))
        created.append(
            ServiceUse(
                patient=parsed.patient,
                municipality_id=parsed.patient.municipality_id,
                kind=parsed.kind,
                period_from=parsed.period_from,
                period_to=parsed.period_to,
                source=Source.IMPORT,
                registered_by=user,
                registered_at=now,
                **_values(parsed.values),
            )
        )
        results.append(ImportLine(number, masked, "created", patient_name=parsed.patient.name))
    ServiceUse.objects.bulk_create(created)
    audit_record_many_objects(
        action=AuditAction.CREATE,
        object_type="service_use",
        objects=[(row.pk, row.patient) for row in created],
        request=request,
        user=user,
    )
    return results
