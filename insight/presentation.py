"""All text of the Innsikt page and its files: each figure's Norwegian label and how its value is
written, the sections' tables and charts, and the rows of the CSV and the XLSX — the same cells
everywhere, so a figure the small-cell rule hid (insight.figures) is hidden alike on the page and in
each file: «skjult» with its reason, never its value. Numbers and dates are tenants.norwegian's,
charts tenants.charts', month names billing's."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.presentation import month_name
from insight.figures import COLOURS, END_REASONS, KIND_KEYS, SECTIONS, Cell
from insight.periods import Bucket
from insight.selectors import Report
from measurements.types import SPECS
from patients.models import EndReason
from tenants.charts import Bars, Chart, Point, Reference, Series, Stage, bar_chart, funnel_chart, line_chart
from tenants.norwegian import date_text, grouped, number, percent

HIDDEN = "skjult"

SECTION_TITLES = {
    "capacity": gettext_lazy("Kapasitet"),
    "alarm_burden": gettext_lazy("Varselbyrde"),
    "adherence": gettext_lazy("Etterlevelse av måleplanen"),
    "funnel": gettext_lazy("Forløpet: fra henvisning til avslutning"),
}
# The address of each section's CSV: /innsikt/<slug>.csv
SECTION_SLUGS = {"capacity": "kapasitet", "alarm_burden": "varsler", "adherence": "etterlevelse", "funnel": "forlop"}


@dataclass(frozen=True)
class Shown:
    """One cell as shown: its text, or (hidden) «skjult» and why."""

    text: str
    reason: str = ""

    @property
    def hidden(self) -> bool:
        return bool(self.reason)

    def __str__(self) -> str:
        return f"{HIDDEN} ({self.reason})" if self.reason else self.text


# --- how each figure is written ----------------------------------------------------------------------


def _count(value) -> str:
    return grouped(int(value))


def _decimal(value) -> str:
    return number(value, 2)


def _one(value) -> str:
    return number(value, 1)


def _share(value) -> str:
    """A share from 0 to 1 (three decimals) as a percentage: 0.875 → «87,5 %»."""
    return percent(round(value * 1000), 1000)


def _date(value) -> str:
    return date_text(datetime.date.fromisoformat(value))


CAPACITY = {
    "active_patients": (gettext_lazy("Aktive pasienter i snitt"), _decimal),
    "paused_patients": (gettext_lazy("Pasienter på pause i snitt"), _decimal),
    "active_at_end": (gettext_lazy("Aktive pasienter siste dag"), _count),
    "paused_at_end": (gettext_lazy("På pause siste dag"), _count),
    "nurse_fte": (gettext_lazy("Sykepleierårsverk"), _decimal),
    "patients_per_fte": (gettext_lazy("Aktive pasienter per årsverk"), _decimal),
    "reference_per_fte": (gettext_lazy("Referanse: pasienter per årsverk"), _count),
    "reaches_reference_on": (gettext_lazy("Når referansen med dagens inntakstakt"), _date),
}
KIND_LABELS = {
    "measurement": gettext_lazy("måling utenfor grenseverdi"),
    "questionnaire": gettext_lazy("avvikende skjemasvar"),
    "missing_measurement": gettext_lazy("manglende måling"),
    "missing_questionnaire": gettext_lazy("manglende skjemasvar"),
    "inactive": gettext_lazy("inaktiv pasient"),
}
COLOUR_LABELS = {"red": gettext_lazy("Røde varsler"), "yellow": gettext_lazy("Gule varsler")}
TIMES = {
    "alerts": (gettext_lazy("Varsler"), _count),
    "taken_median_minutes": (gettext_lazy("Minutter til første handling, median"), _one),
    "taken_p90_minutes": (gettext_lazy("Minutter til første handling, 90-persentil"), _one),
    "handled_median_minutes": (gettext_lazy("Minutter til håndtert, median"), _one),
    "handled_p90_minutes": (gettext_lazy("Minutter til håndtert, 90-persentil"), _one),
}
ALARM_BURDEN = {
    **TIMES,
    "patient_weeks": (gettext_lazy("Aktive pasientuker"), _decimal),
    "alerts_per_patient_week": (gettext_lazy("Varsler per pasientuke"), _decimal),
    "handled_within_response_time_share": (gettext_lazy("Håndtert innen responstiden"), _share),
    "not_reached_retries": (gettext_lazy("«Ikke nådd, nytt forsøk»"), _count),
    "alerts_per_nurse_day": (gettext_lazy("Varsler per sykepleierdag"), _decimal),
}
ADHERENCE = {
    "expected": (gettext_lazy("Forventede målinger"), _decimal),
    "received": (gettext_lazy("Mottatte målinger"), _decimal),
    "share": (gettext_lazy("Andel mottatt"), _share),
    "patient_weeks": (gettext_lazy("Pasientuker med godkjent plan"), _decimal),
    "expected_per_patient_week": (gettext_lazy("Forventede per pasientuke"), _decimal),
    "received_per_patient_week": (gettext_lazy("Mottatte per pasientuke"), _decimal),
    "patients_without_plan": (gettext_lazy("Aktive pasienter uten godkjent plan"), _count),
}
STEP_LABELS = {
    "referrals": gettext_lazy("Henvisninger"),
    "assessed": gettext_lazy("Vurdert"),
    "granted": gettext_lazy("Innvilget"),
    "refused": gettext_lazy("Avslått"),
    "consented": gettext_lazy("Samtykke"),
    "started": gettext_lazy("Oppstart"),
    "ended": gettext_lazy("Avsluttet"),
    "complaints": gettext_lazy("Klager"),
}
STAGE_LABELS = {
    "assessed": gettext_lazy("henvist → vurdert"),
    "decided": gettext_lazy("vurdert → vedtak"),
    "consented": gettext_lazy("innvilget → samtykke"),
    "started": gettext_lazy("samtykke → oppstart"),
}
CONVERSION_LABELS = {
    "assessed": gettext_lazy("Andel vurdert av henvisningene"),
    "granted": gettext_lazy("Andel innvilget av vedtakene"),
    "consented": gettext_lazy("Andel med samtykke av de innvilgede"),
    "started": gettext_lazy("Andel startet av dem med samtykke"),
}
FUNNEL: dict[str, tuple[Any, Callable]] = {
    **{step: (label, _count) for step, label in STEP_LABELS.items()},
    **{f"conversion.{key}": (label, _share) for key, label in CONVERSION_LABELS.items()},
    **{f"median_days.{key}": (label, _one) for key, label in STAGE_LABELS.items()},
    **{f"endings_by_reason.{reason}": (EndReason(reason).label, _count) for reason in END_REASONS},
    "median_days_in_service": (gettext_lazy("Dager fra oppstart til avslutning, median"), _one),
}
LABELS = {"capacity": CAPACITY, "alarm_burden": ALARM_BURDEN, "adherence": ADHERENCE, "funnel": FUNNEL}
assert set(KIND_LABELS) == set(KIND_KEYS.values()) and set(COLOUR_LABELS) == set(COLOURS)


def _type_label(mtype: str) -> str:
    return SPECS[mtype].label if mtype in SPECS else mtype


def _compound(section: str, key: str) -> tuple[str, Callable]:
    """The label and writer of a key of a breakdown («by_kind.inactive.alerts», «by_type.spo2.share» …)."""
    parts = key.split(".")
    if section == "alarm_burden" and parts[0] in ("by_colour", "by_kind") and len(parts) == 3:
        group = COLOUR_LABELS[parts[1]] if parts[0] == "by_colour" else _("Varsler: %(kind)s") % {
            "kind": KIND_LABELS[parts[1]]}  # fmt: skip
        if parts[2] == "alerts":
            return str(group), _count
        return _("%(group)s per pasientuke") % {"group": group}, _decimal
    if section == "alarm_burden" and parts[0] in ("inside_opening_hours", "outside_opening_hours"):
        where = _("I åpningstiden") if parts[0] == "inside_opening_hours" else _("Utenfor åpningstiden")
        label, write = TIMES[parts[1]]
        return f"{where}: {str(label)[:1].lower()}{str(label)[1:]}", write
    if section == "adherence" and parts[0] == "by_type" and len(parts) == 3:
        label, write = ADHERENCE[parts[2]]
        return f"{_type_label(parts[1])}: {str(label)[:1].lower()}{str(label)[1:]}", write
    raise KeyError(f"{section}.{key}")


def label_of(section: str, key: str) -> str:
    """The figure's Norwegian label."""
    if key in LABELS[section]:
        return str(LABELS[section][key][0])
    return _compound(section, key)[0]


def shown(section: str, key: str, cell: Cell) -> Shown:
    """The cell as text: hidden with its reason, «–» without a value, else written as its kind is."""
    if cell.reason is not None:
        return Shown(HIDDEN, cell.reason)
    if cell.value is None:
        return Shown("–")
    write = LABELS[section][key][1] if key in LABELS[section] else _compound(section, key)[1]
    return Shown(write(cell.value))


def bucket_label(bucket: Bucket) -> str:
    """«uke 9, 2026» for an ISO week, «mars 2026» for a month (the API's «2026-W09», «2026-03»)."""
    if "-W" in bucket.label:
        year, week = bucket.label.split("-W")
        return _("uke %(week)s, %(year)s") % {"week": int(week), "year": year}
    return month_name(bucket.first)


def period_text(first: datetime.date, last: datetime.date) -> str:
    return f"{date_text(first)}–{date_text(last)}"


# --- the page's sections -------------------------------------------------------------------------

# The figures of each section in its table per week or month (the rest: «Alle tall for perioden»).
KEY_FIGURES = {
    "capacity": ("active_patients", "paused_patients", "active_at_end", "nurse_fte", "patients_per_fte"),
    "alarm_burden": (
        "alerts",
        "by_colour.red.alerts",
        "by_colour.yellow.alerts",
        "alerts_per_patient_week",
        "taken_median_minutes",
        "handled_median_minutes",
    ),
    "adherence": ("expected", "received", "share", "patients_without_plan"),
    "funnel": ("referrals", "assessed", "granted", "refused", "consented", "started", "ended", "complaints"),
}
CENTRE_ONLY = {"nurse_fte", "patients_per_fte"}  # the centre's own: a column only for the whole centre


@dataclass(frozen=True)
class TableRow:
    label: str
    cells: list[Shown]


@dataclass(frozen=True)
class SectionView:
    """One section of the page: its charts, its table per week or month (and the whole period), and
    every figure of the whole period."""

    name: str
    title: str
    slug: str
    charts: list[Chart]
    headings: list[str]
    rows: list[TableRow]
    figures: list[tuple[str, Shown]]
    hidden_any: bool


def _key_figures(name: str, report: Report) -> list[str]:
    keys = KEY_FIGURES[name]
    return [k for k in keys if report.whole_centre or k not in CENTRE_ONLY]


def section_view(name: str, report: Report) -> SectionView:
    figures = report.figures
    keys = _key_figures(name, report)
    periods = [(bucket_label(b), f[name]) for b, f in zip(report.period.buckets, figures.buckets, strict=True)]
    periods.append((_("Hele perioden"), figures.total[name]))
    rows = [TableRow(label, [shown(name, k, section[k]) for k in keys]) for label, section in periods]
    every = [(label_of(name, key), shown(name, key, cell)) for key, cell in figures.total[name].items()]
    hidden_any = any(c.hidden for r in rows for c in r.cells) or any(s.hidden for _l, s in every)
    return SectionView(name, str(SECTION_TITLES[name]), SECTION_SLUGS[name], CHARTS[name](report),
                       [label_of(name, k) for k in keys], rows, every, hidden_any)  # fmt: skip


def sections(report: Report) -> list[SectionView]:
    """The sections the user sees (finance: capacity and alarm burden), in the page's order."""
    return [section_view(name, report) for name in SECTIONS if name in report.figures.total]


# --- the charts -------------------------------------------------------------------------------------


HIDDEN_NOTE = gettext_lazy("(tall fra færre enn 5 personer er utelatt; tabellen sier hvorfor)")


def _values(report: Report, name: str, key: str, scale: float = 1.0) -> list[float | None]:
    """The figure of each week or month; a hidden one is None (no bar or point, «–» in its table)."""
    out = []
    for figures in report.figures.buckets:
        value = figures[name][key].value
        out.append(None if value is None else round(value * scale, 2))
    return out


def _note(report: Report, name: str, *keys: str) -> str:
    """Said beside the chart's caption when a figure it would draw is hidden."""
    hidden = any(figures[name][key].hidden for figures in report.figures.buckets for key in keys)
    return str(HIDDEN_NOTE) if hidden else ""


def capacity_charts(report: Report) -> list[Chart]:
    starts = [b.first for b in report.period.buckets]

    def series(label, key, css) -> Series:
        return Series(label, [Point(at, v) for at, v in zip(starts, _values(report, "capacity", key), strict=True)],
                      css=css)  # fmt: skip

    charts = [
        line_chart(
            id="innsikt-kapasitet",
            caption=_("Pasienter i snitt per %(unit)s") % {"unit": _unit(report)},
            series=[
                series(_("Aktive"), "active_patients", "series-1"),
                series(_("På pause"), "paused_patients", "series-2"),
            ],
            zero=True,
            time_heading=_("Fra"),
            note=_note(report, "capacity", "active_patients", "paused_patients"),
        )
    ]
    if report.whole_centre:
        reference = report.figures.total["capacity"]["reference_per_fte"].value
        charts.append(
            line_chart(
                id="innsikt-per-arsverk",
                caption=_("Aktive pasienter per sykepleierårsverk"),
                series=[series(_("Per årsverk"), "patients_per_fte", "series-1")],
                reference=Reference(reference, _("%(n)s pasienter per årsverk") % {"n": reference}),
                zero=True,
                time_heading=_("Fra"),
                note=_note(report, "capacity", "patients_per_fte"),
            )
        )
    return charts


def _unit(report: Report) -> str:
    return _("uke") if report.period.granularity == "week" else _("måned")


def _labels(report: Report) -> list[str]:
    return [bucket_label(b) for b in report.period.buckets]


def alarm_charts(report: Report) -> list[Chart]:
    return [
        bar_chart(
            id="innsikt-varsler",
            caption=_("Varsler åpnet per %(unit)s, etter farge") % {"unit": _unit(report)},
            periods=_labels(report),
            series=[Bars(_("Røde"), _values(report, "alarm_burden", "by_colour.red.alerts"), "tone-red"),
                    Bars(_("Gule"), _values(report, "alarm_burden", "by_colour.yellow.alerts"), "tone-yellow")],
            stacked=True,
            decimals=0,
            note=_note(report, "alarm_burden", "by_colour.red.alerts", "by_colour.yellow.alerts"),
        )
    ]  # fmt: skip


def adherence_charts(report: Report) -> list[Chart]:
    return [
        bar_chart(
            id="innsikt-etterlevelse",
            caption=_("Andel forventede målinger mottatt per %(unit)s") % {"unit": _unit(report)},
            periods=_labels(report),
            series=[Bars(_("Mottatt"), _values(report, "adherence", "share", 100), "series-4")],
            unit="%",
            decimals=1,
            note=_note(report, "adherence", "share"),
        )
    ]


FUNNEL_STAGES = ("referrals", "assessed", "granted", "consented", "started")


def funnel_charts(report: Report) -> list[Chart]:
    """The whole period's steps; a hidden step is left out of the picture (the table says why)."""
    total = report.figures.total["funnel"]
    stages = [Stage(str(STEP_LABELS[k]), total[k].value) for k in FUNNEL_STAGES if total[k].value is not None]
    left_out = [str(STEP_LABELS[k]).lower() for k in FUNNEL_STAGES if total[k].value is None]
    note = _("(skjult: %(steps)s)") % {"steps": ", ".join(left_out)} if left_out else ""
    return [funnel_chart(id="innsikt-forlop", caption=_("Fra henvisning til oppstart i perioden"), stages=stages,
                         note=note)]  # fmt: skip


CHARTS: dict[str, Callable[[Report], list[Chart]]] = {
    "capacity": capacity_charts,
    "alarm_burden": alarm_charts,
    "adherence": adherence_charts,
    "funnel": funnel_charts,
}


# --- the files: every figure of every week or month and the whole period as a row -------------------

FILE_HEADER = ("Del", "Periode", "Fra", "Til", "Nøkkel", "Mål", "Verdi", "Skjult fordi")


def file_rows(report: Report, name: str) -> list[tuple]:
    """(section, period, from, to, key, label, value or None, why hidden) for every figure of the
    section: each week or month, then the whole period. The value is the API's number (a date as a
    date); a hidden figure has none, only its reason."""
    title = str(SECTION_TITLES[name])
    periods = [(bucket_label(b), b.first, b.last, f[name])
               for b, f in zip(report.period.buckets, report.figures.buckets, strict=True)]  # fmt: skip
    periods.append((_("Hele perioden"), report.period.first, report.period.last, report.figures.total[name]))
    out = []
    for label, first, last, section in periods:
        for key, cell in section.items():
            value = cell.value
            if isinstance(value, str):  # reaches_reference_on: an ISO date
                value = datetime.date.fromisoformat(value)
            out.append((title, label, first, last, key, label_of(name, key), value, cell.reason or ""))
    return out
