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
        hours=OpeningHours.of(centre), plans=plan_rows(_patients_of(ids)),
        funnel_events=funnel_events(ids, period, endings=False),
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


def test_ended_counts_endings_so_that_the_reasons_and_the_buckets_add_up_to_it(world):
    """A ends «withdrew» 3 March, starts again and ends «deceased» 20 March; B ends «other» in February
    and, after a new start, «too_ill» in March. `ended` is the endings (the reasons' sum), in SQL as in
    the reference: March 3 (of 2 people, whom the small-cell rule counts), February 1, the period 4."""
    import datetime

    from patients.models import StatusChange
    from tests.factories import PatientFactory

    gjerdrum = world.m.gjerdrum
    a, b = (PatientFactory(municipality=gjerdrum, name=name) for name in ("Ending A", "Ending B"))
    rows = [(a, "started", (2, 1), ""), (a, "ended", (3, 3), "withdrew"), (a, "started", (3, 5), ""),
            (a, "ended", (3, 20), "deceased"), (b, "started", (1, 10), ""), (b, "ended", (2, 10), "other"),
            (b, "started", (2, 15), ""), (b, "ended", (3, 25), "too_ill")]  # fmt: skip
    StatusChange.objects.bulk_create(
        StatusChange(patient=patient, municipality=gjerdrum, event=event,
                     effective_date=datetime.date(2100, *day), end_reason=reason)
        for patient, event, day, reason in rows
    )  # fmt: skip
    period = period_parse("2100-02-01", "2100-03-31", "month", today=datetime.date(2100, 4, 1))
    kwargs = {"whole_centre": False, "sections": ("funnel",)}
    sql = _cells(_unruled(world.centres.ovre, [gjerdrum.pk], period, **kwargs))
    assert sql == _cells(_reference(world.centres.ovre, [gjerdrum.pk], period, rule=False, **kwargs))
    people = frozenset({f"p:{a.pk}", f"p:{b.pk}"})
    for area in (WHOLE, str(gjerdrum.pk)):
        period_, february, march_ = ((area, i, "funnel") for i in range(3))
        assert sql[(*march_, "ended")] == (3, None, 2, people)
        assert sum(sql[(*march_, f"endings_by_reason.{r}")][0] for r in REASONS) == 3
        assert sql[(*february, "ended")][:3] == (1, None, 1)
        assert sql[(*period_, "ended")] == (4, None, 2, people)
        assert sql[(*march_, "median_days_in_service")][0] == 30  # 15, 30 (A), 38 (B): of three endings


def test_alerts_per_nurse_day_divide_by_the_exact_arsverk_not_the_rounded_one(world):
    """A week of 1.0 årsverk for 4 days and 2.0 for 3: 10/7 årsverk, shown 1.43. 100 alerts are
    100 ÷ (10/7 × 7) = 10.00 a nurse-day, in SQL as in the reference (not 100 ÷ (1.43 × 7) = 9.99)."""
    import datetime

    from tenants.models import Staffing
    from tests.factories import PatientFactory
    from triage.models import Alert

    m, centre = world.m, world.centres.ovre
    Staffing.objects.create(centre=centre, valid_from=march(1), valid_to=march(4), nurse_fte="1.0")
    Staffing.objects.create(centre=centre, valid_from=march(5), valid_to=None, nurse_fte="2.0")
    patient = PatientFactory(municipality=m.gjerdrum, name="Many alerts")
    Alert.objects.bulk_create(
        Alert(patient=patient, municipality=m.gjerdrum, kind="out_of_range", subject=str(n), colour="yellow",
              reason="Funn", status="closed", opened_at=_at(1 + n % 7, 10, n % 60),
              closed_at=_at(1 + n % 7, 12, 0))
        for n in range(100)
    )  # fmt: skip
    period = period_parse("2100-03-01", "2100-03-07", "week", today=datetime.date(2100, 3, 8))
    ids = [m.ullensaker.pk, m.gjerdrum.pk, m.nannestad.pk]
    kwargs = {"whole_centre": True, "sections": ("capacity", "alarm_burden")}
    sql = _cells(_unruled(centre, ids, period, **kwargs))
    assert sql == _cells(_reference(centre, ids, period, rule=False, **kwargs))
    for index in (0, 1):  # the period and its one week
        assert sql[(WHOLE, index, "capacity", "nurse_fte")][0] == 1.43
        assert sql[(WHOLE, index, "alarm_burden", "alerts")][0] == 100
        assert sql[(WHOLE, index, "alarm_burden", "alerts_per_nurse_day")][0] == 10.0


# --- a denser world: many endings, alerts and retries, so that SQL's groups of five and more are held
# to the reference too (the scenario's are mostly under five) ----------------------------------------

REASONS = ("no_benefit", "too_ill", "deceased", "withdrew", "transferred", "other")


def _event(alert, **fields):
    from triage.models import AlertEvent

    return AlertEvent(alert=alert, municipality_id=alert.municipality_id, patient_id=alert.patient_id, **fields)


def _at(day: int, hour: int, minute: int, second: float = 0.0):
    import datetime

    from triage.opening_hours import OSLO

    whole = int(second)
    micro = round((second - whole) * 1_000_000)
    return datetime.datetime(2100, 3, day, hour, minute, whole, micro, tzinfo=OSLO)


@pytest.fixture
def dense(world):
    """48 patients in the three kommuner, started in February: in March most end (every reason, some
    twice in a bucket after a new start, some moving and ending again in the new kommune, one a record
    merged into another whose ending does not count), and each has alerts at odd seconds (some handled
    exactly at the response time's limit by the clock; a moved patient's in both kommuner) and
    not-reached retries."""
    import datetime
    import random

    from patients.models import StatusChange
    from tests.factories import PatientFactory
    from triage.models import Alert, AlertEvent

    rng = random.Random(5)
    m = world.m
    kommuner = [m.ullensaker, m.gjerdrum, m.nannestad]
    patients = [PatientFactory(municipality=kommuner[i % 3], name=f"D{i}") for i in range(48)]
    rows = []
    kommuner_of = {p.pk: [p.municipality_id] for p in patients}  # a moved patient's alerts fall in both

    def status(patient, municipality, event, day, reason=""):
        rows.append(StatusChange(patient=patient, municipality=municipality, event=event,
                                 effective_date=datetime.date(2100, 3, day) if isinstance(day, int) else day,
                                 end_reason=reason))  # fmt: skip

    for i, patient in enumerate(patients):
        home = kommuner[i % 3]
        status(patient, home, "started", datetime.date(2100, 2, 1 + i % 20))
        roll = i % 8
        if roll in (0, 1, 2, 3):  # ends once, a reason by turn
            status(patient, home, "ended", 2 + (i * 5) % 26, REASONS[i % len(REASONS)])
        elif roll == 4:  # ends, starts again, ends again in the same week
            status(patient, home, "ended", 9, REASONS[i % 3])
            status(patient, home, "started", 10)
            status(patient, home, "ended", 12, REASONS[(i + 1) % 3])
        elif roll == 5:  # moves, and ends in the new kommune
            there = kommuner[(i + 1) % 3]
            kommuner_of[patient.pk].append(there.pk)
            status(patient, home, "ended", 6 + i % 10, "moved")
            status(patient, there, "moved", 6 + i % 10)
            status(patient, there, "started", 6 + i % 10)
            status(patient, there, "ended", 20 + i % 5, REASONS[i % len(REASONS)])
        elif roll == 6:  # paused, then ended (an ending without a start in the period)
            status(patient, home, "paused", 3)
            status(patient, home, "ended", 15 + i % 10, "deceased")
    merged = patients[0]
    merged.merged_into = patients[1]
    merged.save(update_fields=["merged_into"])
    StatusChange.objects.bulk_create(rows)

    alerts, events = [], []
    for n in range(240):
        patient = patients[rng.randrange(len(patients))]
        day = 1 + rng.randrange(28)
        opened = _at(day, rng.randrange(24), rng.randrange(60), rng.randrange(60) + rng.random())
        colour = "red" if rng.random() < 0.35 else "yellow"
        limit = datetime.timedelta(hours=1) if colour == "red" else datetime.timedelta(hours=7)
        first = handled = None
        if rng.random() < 0.9:
            first = opened + datetime.timedelta(seconds=rng.randrange(60, 20000) + rng.random())
        if first and rng.random() < 0.85:
            handled = first + datetime.timedelta(seconds=rng.randrange(0, 30000), microseconds=rng.randrange(10**6))
            if n % 17 == 0:
                handled = opened + limit  # exactly the limit by the clock
        alert = Alert(patient=patient, municipality_id=rng.choice(kommuner_of[patient.pk]),
                      kind=rng.choice(["out_of_range", "deviating_answer", "missing_measurement", "missing_answer",
                                       "inactive_patient"]),
                      subject=str(n), colour=colour, reason="Funn", status="closed", opened_at=opened,
                      closed_at=handled or opened + datetime.timedelta(days=1), taken_at=first, handled_at=handled,
                      first_action_at=min(x for x in (first, handled) if x) if first else None)  # fmt: skip
        alerts.append(alert)
        events.append(_event(alert, kind="opened", at=opened, colour=colour))
        if first:
            events.append(_event(alert, kind="taken", at=first, colour=colour))
            for retry in range(n % 3):  # retries, some on a later day (a retry counts on its own day)
                at = first + datetime.timedelta(hours=9 * retry, seconds=1)
                events.append(_event(alert, kind="not_reached", at=at, colour=colour))
        if handled:
            events.append(_event(alert, kind="handled", at=handled, colour=colour))
    Alert.objects.bulk_create(alerts)
    AlertEvent.objects.bulk_create(events)
    return patients


@pytest.mark.parametrize(
    ("first", "last", "granularity"),
    [("2100-03-01", "2100-03-28", "week"), ("2100-03-03", "2100-03-24", "week"), ("2100-02-01", "2100-03-31", "month")],
)
@pytest.mark.parametrize("who", ["centre", "gjerdrum"])
def test_sql_counts_a_dense_world_as_the_reference_does(dense, world, first, last, granularity, who):
    """Endings by reason (rows, not people), the median days in service over an even and an odd count,
    the retries, medians and 90th percentiles of many alerts, handled within the response time at its
    very limit: every cell the same before and after the rule."""
    import datetime

    from django.db.models import Count

    from triage.models import Alert

    m, centre = world.m, world.centres.ovre
    ids, whole_centre = {
        "centre": ([m.ullensaker.pk, m.gjerdrum.pk, m.nannestad.pk], True),
        "gjerdrum": ([m.gjerdrum.pk], False),
    }[who]
    period = period_parse(first, last, granularity, today=datetime.date(2100, 4, 1))
    kwargs = {"whole_centre": whole_centre, "sections": ALL}
    before_rule = _cells(_unruled(centre, ids, period, **kwargs))
    reference = _cells(_reference(centre, ids, period, rule=False, **kwargs))
    assert before_rule == reference
    assert _types(before_rule) == _types(reference)  # an integer stays an integer (10, not 10.0, in the API)
    got = _cells(area_reports(centre, ids, period, **kwargs))
    assert got == _cells(_reference(centre, ids, period, **kwargs))
    whole = dict(before_rule)
    # some patients have alerts in two kommuner (a move): their people by kommune are insight's second
    # pass (ALERTS_MULTI), the others' are copied from the whole's
    moved = Alert.objects.values("patient").annotate(n=Count("municipality", distinct=True)).filter(n__gt=1)
    assert moved.exists()
    # the dense world reaches groups of five and more, where SQL names nobody
    assert whole[(WHOLE, 0, "funnel", "ended")][2] >= 5
    assert whole[(WHOLE, 0, "alarm_burden", "not_reached_retries")][2] >= 5
    assert whole[(WHOLE, 0, "alarm_burden", "handled_p90_minutes")][0] is not None
    assert any(whole[(WHOLE, 0, "funnel", f"endings_by_reason.{r}")][2] >= 5 for r in REASONS)


def _types(cells):
    return {key: type(value).__name__ for key, (value, *_rest) in cells.items()}
