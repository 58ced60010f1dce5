"""The gevinst figures, as pure functions of plain rows (insight.gevinst.selectors reads them): the
patients' service use before and after per patient-month, the comparison group's the same way, and
the brukerundersøkelse's distributions; with insight's small-cell rule (insight/figures.py: a figure
from fewer than 5 people is hidden, nothing small can be worked out by subtraction, what builds on a
hidden figure is hidden), applied over every kommune the user sees and their whole at once.

Service use per patient-month (docs/insight.md, «Gevinst»): each registration covers a period of
`days`; its hours per week count as hours × days ÷ 7 over the period, its other figures as given;
a phase's figure is the sum over its registrations ÷ their patient-months (the days ÷ 30.44).
«Before» is the null-punkt, «after» the registrations at 6 and 12 months and at the end.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from insight.figures import (
    ACROSS_AREAS,
    AREAS,
    AreaReport,
    Cell,
    Section,
    _derived,
    _primary,
    _protect,
)
from insight.models import FIELD_NAMES, FOLLOW_UPS, ServiceUseKind
from measurements.survey import QUESTIONS

DAYS_PER_MONTH = 365.25 / 12
SECTIONS = ("service_use", "comparison", "survey")
# The phases a registration belongs to: (the key, the kinds).
PHASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("before", (ServiceUseKind.BASELINE,)),
    ("after", tuple(FOLLOW_UPS)),
    *((f"after_by_kind.{kind}", (kind,)) for kind in FOLLOW_UPS),
)


class ServiceRow(NamedTuple):
    """One registration: whose (a patient's id, or a comparison person's «kommune:løpenummer»), which
    kommune's, its kind, the days its period covers, and each figure's total over the period."""

    person: Any
    municipality_id: int
    kind: str
    days: int
    totals: dict[str, float]


class SurveyRow(NamedTuple):
    """A patient's brukerundersøkelse: {question: option} of the questions answered."""

    person: Any
    municipality_id: int
    answered_on: datetime.date
    answers: dict[str, str]


def period_totals(values: dict[str, Any], days: int) -> dict[str, float]:
    """A registration's figures as totals over its period: hours per week × days ÷ 7, counts as given."""
    return {name: float(values[name]) * (days / 7 if name.endswith("_per_week") else 1) for name in FIELD_NAMES}


@dataclass
class GevinstRows:
    service: list[ServiceRow] = field(default_factory=list)
    comparison: list[ServiceRow] = field(default_factory=list)
    survey: list[SurveyRow] = field(default_factory=list)

    def only(self, municipality_ids: frozenset[int]) -> GevinstRows:
        return replace(
            self,
            service=[r for r in self.service if r.municipality_id in municipality_ids],
            comparison=[r for r in self.comparison if r.municipality_id in municipality_ids],
            survey=[r for r in self.survey if r.municipality_id in municipality_ids],
        )


def _ratio(part: float, whole: float, decimals: int = 2) -> float | None:
    return round(part / whole, decimals) if whole else None


# --- service use (the patients', and the comparison group's) ---------------------------------------


def _phase(out: Section, prefix: str, rows: list[ServiceRow]) -> None:
    people = frozenset(r.person for r in rows)
    months = sum(r.days for r in rows) / DAYS_PER_MONTH
    out[f"{prefix}.patients"] = Cell(len(people), people, additive=ACROSS_AREAS)
    out[f"{prefix}.patient_months"] = Cell(round(months, 1), people, additive=ACROSS_AREAS)
    for name in FIELD_NAMES:
        total = sum(r.totals[name] for r in rows)
        out[f"{prefix}.{name}"] = Cell(
            _ratio(total, months), people, inputs=(f"{prefix}.patients", f"{prefix}.patient_months")
        )


def service_use(rows: list[ServiceRow]) -> Section:
    """Before (null-punkt) and after (6 and 12 months, end; and each of them): patients, patient-months
    and each figure per patient-month; the change after − before."""
    out: Section = {}
    for prefix, kinds in PHASES:
        _phase(out, prefix, [r for r in rows if r.kind in kinds])
    for name in FIELD_NAMES:
        before, after = out[f"before.{name}"].value, out[f"after.{name}"].value
        change = round(after - before, 2) if before is not None and after is not None else None
        out[f"change.{name}"] = Cell(change, counted=False, inputs=(f"before.{name}", f"after.{name}"))
    return out


# --- the brukerundersøkelse ------------------------------------------------------------------------


def survey(rows: list[SurveyRow]) -> Section:
    """Per question: who answered it, how many chose each option, and its share of them."""
    everyone = frozenset(r.person for r in rows)
    out: Section = {"respondents": Cell(len(everyone), everyone, additive=ACROSS_AREAS)}
    for question in QUESTIONS:
        answered = [r for r in rows if question.code in r.answers]
        people = frozenset(r.person for r in answered)
        out[f"{question.code}.respondents"] = Cell(len(people), people, additive=ACROSS_AREAS)
        for option in question.options:
            chose = frozenset(r.person for r in answered if r.answers[question.code] == option.code)
            key = f"{question.code}.{option.code}"
            out[key] = Cell(len(chose), chose, additive=ACROSS_AREAS)
            out[f"{key}_share"] = Cell(
                _ratio(len(chose), len(people), 3), counted=False, inputs=(key, f"{question.code}.respondents")
            )
    return out


def area_figures(rows: GevinstRows) -> dict[str, Section]:
    return {
        "service_use": service_use(rows.service),
        "comparison": service_use(rows.comparison),
        "survey": survey(rows.survey),
    }


# --- the small-cell rule over every area at once -------------------------------------------------


def breakdowns(name: str) -> list[tuple[str, list[str]]]:
    """The parts of a section that add up to one of its figures: (the total's key, the parts' keys)."""
    if name in ("service_use", "comparison"):
        return [("after.patient_months", [f"after_by_kind.{kind}.patient_months" for kind in FOLLOW_UPS])]
    return [(f"{q.code}.respondents", [f"{q.code}.{o.code}" for o in q.options]) for q in QUESTIONS]


def _within(figures: dict[str, Section]) -> bool:
    changed = False
    for name, section in figures.items():
        for total, parts in breakdowns(name):
            changed |= _protect([section[k] for k in parts], section[total])
    return changed


def _across(reports: dict[str, dict[str, Section]], parts: list[str], whole: str) -> bool:
    """Rule 2 over the kommuner: the parts' cells of a count that adds up, against the whole's."""
    changed = False
    for name, section in reports[whole].items():
        for key, total in section.items():
            if AREAS in total.additive:
                changed |= _protect([reports[p][name][key] for p in parts], total)
    return changed


def reports_for(
    rows: GevinstRows, *, parts: dict[str, frozenset[int]], whole: str, whole_ids: frozenset[int]
) -> dict[str, dict[str, Section]]:
    """The figures of each part (a kommune) and of their whole (what the user sees), with the rule
    applied across all of them, so that no two answers can be set against each other."""
    areas = {**parts, whole: whole_ids}
    reports = {name: area_figures(rows.only(ids)) for name, ids in areas.items()}
    wrapped = [AreaReport(total=figures, buckets=[]) for figures in reports.values()]
    for report in wrapped:
        _primary(report)
    changed = True
    while changed:
        changed = _across(reports, list(parts), whole)
        for figures in reports.values():  # every area, not up to the first that changed
            changed |= _within(figures)
    for report in wrapped:
        _derived(report)
    return reports
