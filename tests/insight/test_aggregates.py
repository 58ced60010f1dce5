"""The figures as the report counts them in SQL (insight.aggregates) against insight.figures'
functions on the rows (the reference, itself checked against hand counts and the raw rows in
test_figures.py): every figure of every kommune and their whole, for every bucket and the period,
the same value, the same number of people behind it, and after the small-cell rule the same reason."""

import pytest

from insight.aggregates import WHOLE_AREA, report_figures
from insight.figures import reports_for
from insight.periods import period_parse
from insight.selectors import (
    WHOLE,
    _patients_of,
    area_reports,
    funnel_events,
    plan_rows,
    reference_per_fte,
    rows_for,
    staffing_rows,
)
from tests.insight.conftest import march
from triage.opening_hours import OpeningHours

ALL = ("capacity", "alarm_burden", "adherence", "funnel")


def _cells(reports):
    """(area, bucket index, section, key) → (value, reason, people; their ids while fewer than 5)."""
    out = {}
    for area, report in reports.items():
        for index, figures in enumerate([report.total, *report.buckets]):
            for name, section in figures.items():
                for key, cell in section.items():
                    named = frozenset(cell.people) if cell.size < 5 else None
                    out[(area, index, name, key)] = (cell.value, cell.reason, cell.size, named)
    return out


def _reference(centre, ids, period, *, whole_centre, sections, rule=True):
    rows = rows_for(centre, ids, period, whole_centre=whole_centre, sections=sections)
    parts = {str(m): frozenset({m}) for m in sorted(ids)}
    if rule:
        return reports_for(rows, period, parts=parts, whole=WHOLE, whole_ids=frozenset(ids),
                           whole_centre=whole_centre, sections=sorted(sections))  # fmt: skip
    from insight.figures import AreaReport, area_figures

    areas = {**parts, WHOLE: frozenset(ids)}
    out = {}
    for name, these_ids in areas.items():
        these = rows.only(these_ids, whole_centre=whole_centre and name == WHOLE)
        out[name] = AreaReport(area_figures(these, period.whole, sorted(sections)),
                               [area_figures(these, b, sorted(sections)) for b in period.buckets])  # fmt: skip
    return out


def _unruled(centre, ids, period, *, whole_centre, sections):
    ids = sorted(ids)
    return report_figures(
        municipality_ids=ids, areas={**{str(m): m for m in ids}, WHOLE: WHOLE_AREA}, period=period,
        sections=sorted(sections), whole_centre=whole_centre,
        staffing=staffing_rows(centre, period) if whole_centre else None, reference=reference_per_fte(),
        hours=OpeningHours.of(centre), plans=plan_rows(_patients_of(ids)), funnel_events=funnel_events(ids, period),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("first", "last", "granularity"),
    [("2100-03-01", "2100-03-28", "week"), ("2100-03-03", "2100-03-20", "week"), ("2100-02-01", "2100-03-28", "month")],
)
@pytest.mark.parametrize("who", ["centre", "gjerdrum", "nannestad_and_gjerdrum"])
def test_sql_counts_every_figure_as_the_reference_does(scenario, first, last, granularity, who):
    m, centre = scenario.world.m, scenario.world.centres.ovre
    ids, whole_centre = {
        "centre": ([m.ullensaker.pk, m.gjerdrum.pk, m.nannestad.pk], True),
        "gjerdrum": ([m.gjerdrum.pk], False),
        "nannestad_and_gjerdrum": ([m.gjerdrum.pk, m.nannestad.pk], False),
    }[who]
    period = period_parse(first, last, granularity, today=march(28))
    kwargs = {"whole_centre": whole_centre, "sections": ALL}
    before_rule = _cells(_unruled(centre, ids, period, **kwargs))
    assert before_rule == _cells(_reference(centre, ids, period, rule=False, **kwargs))
    got = _cells(area_reports(centre, ids, period, **kwargs))
    assert got == _cells(_reference(centre, ids, period, **kwargs))
    assert any(reason for _v, reason, _n, _p in got.values())  # the rule had something to hide
    assert any(value for value, _r, _n, _p in got.values())


def test_the_rule_needs_only_how_many_and_the_few(scenario):
    """A figure of five or more people carries their number only; under five, who they are."""
    m, centre = scenario.world.m, scenario.world.centres.ovre
    period = period_parse("2100-03-01", "2100-03-28", "week", today=march(28))
    reports = _unruled(centre, [m.ullensaker.pk, m.gjerdrum.pk, m.nannestad.pk], period, whole_centre=True,
                       sections=ALL)  # fmt: skip
    whole = reports[WHOLE].total["capacity"]["active_patients"]
    assert (whole.size, whole.people) == (17, frozenset())
    alone = reports[str(m.gjerdrum.pk)].total["capacity"]["paused_patients"]
    assert (alone.size, alone.people) == (1, frozenset({str(scenario.g[0].pk)}))
