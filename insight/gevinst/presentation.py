"""All text of the gevinst: a patient's registrations and survey answers as the patient page shows
them, and the report's tables and charts, the same cells for the page, the PDF and the XLSX, so a
figure the small-cell rule hid is hidden in each alike (its reason in its place, never its value).
Numbers and dates are tenants.norwegian's; charts tenants.charts'."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from insight.figures import Cell, Section
from insight.gevinst.schedule import COMING, DUE, REGISTERED, Point
from insight.models import FOLLOW_UPS, SERVICE_FIELDS, ServiceUse, ServiceUseKind, Source
from insight.presentation import HIDDEN, Shown
from measurements.survey import NEGATIVE, NEUTRAL, POSITIVE, QUESTIONS
from tenants.charts import Bars, Chart, bar_chart
from tenants.norwegian import date_text, datetime_text, fixed, grouped, number, percent
from tenants.people import display_name
from triage.opening_hours import OSLO

PHASE_LABELS = {
    "before": gettext_lazy("Før (null-punkt)"),
    "after": gettext_lazy("Etter (6 mnd, 12 mnd, avslutning)"),
    **{f"after_by_kind.{kind}": ServiceUseKind(kind).label for kind in FOLLOW_UPS},
}


def _shown(cell: Cell, write) -> Shown:
    if cell.reason is not None:
        return Shown(HIDDEN, cell.reason)
    return Shown("–" if cell.value is None else write(cell.value))


def _decimal(decimals: int):
    return lambda value: number(value, decimals)


def per_month_unit(field) -> str:
    return _("timer per pasientmåned") if field.per_week else _("%(unit)s per pasientmåned") % {"unit": field.unit}


# --- the patient page ---------------------------------------------------------------------------


def point_text(point: Point) -> str:
    if point.state == REGISTERED and point.registered_at is not None:
        return _("registrert %(at)s") % {"at": date_text(point.registered_at.astimezone(OSLO))}
    if point.state == DUE:
        return _("skal registreres (fra %(on)s)") % {"on": date_text(point.due_on)}
    assert point.state == COMING
    return _("kommer %(on)s") % {"on": date_text(point.due_on)}


def _field_text(row: ServiceUse, field) -> str:
    return number(float(getattr(row, field.name)), 2)


def registration_rows(rows: list[ServiceUse]) -> list[dict[str, Any]]:
    return [
        {
            "kind": row.get_kind_display(),
            "period": f"{date_text(row.period_from)}–{date_text(row.period_to)}",
            "values": [_field_text(row, f) for f in SERVICE_FIELDS],
            "source": Source(row.source).label,
            "by": f"{display_name(row.registered_by)}, {datetime_text(row.registered_at.astimezone(OSLO))}",
        }
        for row in rows
    ]


def survey_rows_shown(surveys) -> list[dict[str, Any]]:
    return [
        {
            "answered_on": date_text(s.answered_on),
            "answers": [q.label_of(s.answers[q.code]) if q.code in s.answers else "–" for q in QUESTIONS],
            "comment": s.comment,
            "source": _("papirskjema, registrert av %(who)s") % {"who": display_name(s.registered_by)}
            if s.source == "paper"
            else _("sendt fra nettbrett"),
        }
        for s in surveys
    ]


def field_labels(*, units: bool = False) -> list[str]:
    return [f"{f.label} ({f.unit})" if units else str(f.label) for f in SERVICE_FIELDS]


def question_labels() -> list[str]:
    return [str(q.short) for q in QUESTIONS]


# --- the report's tables ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    unit: str
    cells: list[Shown]


def service_table(section: Section) -> tuple[list[str], list[Row]]:
    """(the column headings, the rows): the patients and patient-months of each phase, then each figure
    per patient-month before, after, its change, and after by point."""
    phases = ["before", "after", *(f"after_by_kind.{kind}" for kind in FOLLOW_UPS)]
    headings = [
        str(PHASE_LABELS["before"]),
        str(PHASE_LABELS["after"]),
        _("Endring"),
        *(str(PHASE_LABELS[p]) for p in phases[2:]),
    ]

    def cells(key: str, write) -> list[Shown]:
        out = [_shown(section[f"{p}.{key}"], write) for p in phases[:2]]
        change = section.get(f"change.{key}")
        out.append(_shown(change, _signed) if change is not None else Shown(""))
        return out + [_shown(section[f"{p}.{key}"], write) for p in phases[2:]]

    rows = [
        Row(_("Pasienter"), _("personer"), cells("patients", grouped)),
        Row(_("Pasientmåneder"), _("måneder"), cells("patient_months", _decimal(1))),
    ]
    rows += [Row(str(f.label), per_month_unit(f), cells(f.name, _decimal(2))) for f in SERVICE_FIELDS]
    return headings, rows


def _signed(value: float) -> str:
    """«+6,52», «−45,66» (a typographic minus), «0,00»: a change says which way it went."""
    return ("+" if value > 0 else "") + fixed(value, 2)


def survey_table(section: Section) -> tuple[list[str], list[Row]]:
    """Per question: those who answered it, and each option's count and share, in the options' order
    (the positive first)."""
    headings = [_("Svarte"), _("Positivt"), _("Nøytralt"), _("Negativt")]
    rows = []
    for q in QUESTIONS:
        cells = [_shown(section[f"{q.code}.respondents"], grouped)]
        for option in q.options:
            count, share = section[f"{q.code}.{option.code}"], section[f"{q.code}.{option.code}_share"]
            if count.reason is not None or share.reason is not None:
                cells.append(Shown(HIDDEN, count.reason or share.reason or ""))
            else:
                answered = section[f"{q.code}.respondents"].value or 0
                cells.append(Shown(f"{option.label}: {grouped(count.value)} ({percent(count.value, answered)})"))
        rows.append(Row(str(q.short), "", cells))
    return headings, rows


def respondents(section: Section) -> Shown:
    return _shown(section["respondents"], grouped)


# --- the report's charts ------------------------------------------------------------------------------


def service_chart(use: Section, comparison: Section) -> Chart:
    """Each figure per patient-month before and after, the comparison group's beside them when any was
    registered; a hidden figure is no bar (its table cell says «–»)."""

    def values(section: Section, phase: str) -> list[float | None]:
        return [section[f"{phase}.{f.name}"].value for f in SERVICE_FIELDS]

    series = [Bars(_("Før"), values(use, "before"), "series-1"), Bars(_("Etter"), values(use, "after"), "series-2")]
    if comparison["before.patients"].value or comparison["after.patients"].value:
        series += [
            Bars(_("Sammenligningsgruppe før"), values(comparison, "before"), "series-3"),
            Bars(_("Sammenligningsgruppe etter"), values(comparison, "after"), "series-4"),
        ]
    return bar_chart(
        id="gevinst-tjenestebruk",
        caption=_("Tjenestebruk per pasientmåned, før og etter"),
        periods=field_labels(),
        series=series,
        decimals=2,
        period_heading=_("Tjeneste"),
    )


TONE_LABELS = {
    POSITIVE: gettext_lazy("Ja / bedre / mer"),
    NEUTRAL: gettext_lazy("Vet ikke / uendret"),
    NEGATIVE: gettext_lazy("Nei / verre / mindre"),
}


def survey_chart(section: Section) -> Chart:
    """Each question's answers as shares (%), stacked positive, neutral, negative."""
    series = []
    for tone, css in ((POSITIVE, "series-4"), (NEUTRAL, "series-5"), (NEGATIVE, "series-2")):
        shares = []
        for q in QUESTIONS:
            option = next(o for o in q.options if o.tone == tone)
            share = section[f"{q.code}.{option.code}_share"].value
            shares.append(None if share is None else round(share * 100, 1))
        series.append(Bars(str(TONE_LABELS[tone]), shares, css))
    return bar_chart(
        id="gevinst-brukerundersokelse",
        caption=_("Brukerundersøkelsen, andel av dem som svarte"),
        periods=question_labels(),
        series=series,
        stacked=True,
        unit="%",
        decimals=1,
        period_heading=_("Spørsmål"),
    )


# --- every figure as one row (the XLSX) ---------------------------------------------------------------


SECTION_LABELS = {
    "service_use": gettext_lazy("Tjenestebruk"),
    "comparison": gettext_lazy("Sammenligningsgruppe"),
    "survey": gettext_lazy("Brukerundersøkelse"),
}


def figure_rows(figures: dict[str, Section]) -> list[tuple[str, str, str, float | int | None, str]]:
    """(section, group, figure, value or None, why hidden) of every figure: the spreadsheet's rows."""
    out = []
    for name in ("service_use", "comparison"):
        headings, rows = service_table(figures[name])
        keys = ["before", "after", "change", *(f"after_by_kind.{kind}" for kind in FOLLOW_UPS)]
        fields = ["patients", "patient_months", *(f.name for f in SERVICE_FIELDS)]
        for row, field in zip(rows, fields, strict=True):
            for heading, key in zip(headings, keys, strict=True):
                cell = figures[name].get(f"{key}.{field}")
                if cell is not None:
                    out.append(
                        (str(SECTION_LABELS[name]), heading, f"{row.label} ({row.unit})", cell.value, cell.reason or "")
                    )
    survey = figures["survey"]
    cell = survey["respondents"]
    out.append((str(SECTION_LABELS["survey"]), _("Alle"), _("Svarte"), cell.value, cell.reason or ""))
    for q in QUESTIONS:
        cell = survey[f"{q.code}.respondents"]
        out.append((str(SECTION_LABELS["survey"]), str(q.short), _("Svarte"), cell.value, cell.reason or ""))
        for option in q.options:
            for suffix, label in (("", str(option.label)), ("_share", f"{option.label} ({_('andel')})")):
                cell = survey[f"{q.code}.{option.code}{suffix}"]
                out.append((str(SECTION_LABELS["survey"]), str(q.short), label, cell.value, cell.reason or ""))
    return out
