"""Each figure on the world of tests/insight/conftest.py, before the small-cell rule: the values
counted by hand (written out beside each), and computed a second way from the raw rows."""

import datetime
import math
import statistics

import pytest

from insight.figures import alarm_burden, area_figures, capacity, percentile
from insight.periods import period_parse
from insight.selectors import rows_for
from patients.models import StatusChange
from tests.insight.conftest import march
from triage.models import Alert, AlertEvent
from triage.opening_hours import OSLO, OpeningHours

ALL = ("capacity", "alarm_burden", "adherence", "funnel")
WEEK_10 = 1  # the buckets of 1–28 March by week: W09, W10, W11, W12


def _period(granularity="week"):
    return period_parse("2100-03-01", "2100-03-28", granularity, today=march(28))


def _rows(scenario, municipalities=None, *, whole_centre=True):
    m = scenario.world.m
    ids = [x.pk for x in municipalities or (m.ullensaker, m.gjerdrum, m.nannestad)]
    return rows_for(scenario.world.centres.ovre, ids, _period(), whole_centre=whole_centre, sections=ALL)


def _values(section: dict) -> dict:
    return {key: cell.value for key, cell in section.items()}


def _active_days_from_rows(municipality_ids, first: datetime.date, last: datetime.date, state="active") -> int:
    """The second way: walk each patient's status rows in this kommune, one day at a time."""
    total = 0
    patients = StatusChange.objects.filter(municipality_id__in=municipality_ids, patient__isnull=False)
    for patient_id in set(patients.values_list("patient_id", flat=True)):
        rows = list(StatusChange.objects.filter(patient_id=patient_id, municipality_id__in=municipality_ids).order_by(
            "effective_date", "at", "id"))  # fmt: skip
        day = first
        while day <= last:
            now = None
            for row in rows:
                if row.effective_date <= day and row.event in ("started", "resumed", "paused", "ended"):
                    now = {"started": "active", "resumed": "active", "paused": "paused", "ended": None}[row.event]
            total += now == state
            day += datetime.timedelta(days=1)
    return total


def test_periods_split_into_iso_weeks_from_monday_and_calendar_months():
    weeks = period_parse("2100-03-03", "2100-03-16", "week", today=march(28)).buckets
    assert [(b.label, b.first.day, b.last.day, b.days) for b in weeks] == [
        ("2100-W09", 3, 7, 5), ("2100-W10", 8, 14, 7), ("2100-W11", 15, 16, 2)]  # fmt: skip
    months = period_parse("2100-01-15", "2100-03-02", "month", today=march(28)).buckets
    assert [(b.label, b.days) for b in months] == [("2100-01", 17), ("2100-02", 28), ("2100-03", 2)]
    # «to» is cut at today: a day not yet lived has no figures.
    assert period_parse("2100-03-01", "2100-04-30", "week", today=march(10)).last == march(10)


def test_capacity_counts_patient_days_across_a_pause_a_move_and_an_ending(scenario):
    m = scenario.world.m
    period = _period()
    whole = capacity(_rows(scenario), period.whole)
    # Gjerdrum 159 active days: g1 21 (paused 8–14), g2 19 (ended 20th), g3 21 (moved 22nd), g4–g6 3 × 28,
    # Astrid 14 (10th–23rd); Nannestad 119: n1–n4 4 × 28 and g3 7 (22nd–28th); Ullensaker 168: 6 × 28.
    assert whole["active_patients"].value == round(446 / 28, 2) == 15.93
    assert whole["paused_patients"].value == 0.25  # g1's 7 days ÷ 28
    assert whole["active_at_end"].value == 15  # g1, g4, g5, g6 + n1–n4, g3 + u1–u6
    assert len(whole["active_patients"].people) == 17  # g3 is one person in two kommuner
    assert whole["nurse_fte"].value == 2.25  # 14 days × 2.0 and 14 days × 2.5
    assert whole["patients_per_fte"].value == round(446 / 28 / 2.25, 2) == 7.08
    assert whole["reference_per_fte"].value == 80
    # 15 active on the 28th, none 91 days before: 15 per 91 days to 2.5 × 80 = 200.
    assert (
        whole["reaches_reference_on"].value
        == (march(28) + datetime.timedelta(days=math.ceil(185 * 91 / 15))).isoformat()
    )

    gjerdrum = capacity(_rows(scenario).only(frozenset({m.gjerdrum.pk}), whole_centre=False), period.whole)
    assert gjerdrum["active_patients"].value == round(159 / 28, 2)
    assert gjerdrum["active_at_end"].value == 4
    assert gjerdrum["nurse_fte"].value is None  # a kommune has no staffing of its own
    nannestad = capacity(_rows(scenario).only(frozenset({m.nannestad.pk}), whole_centre=False), period.whole)
    assert (nannestad["active_patients"].value, nannestad["active_at_end"].value) == (4.25, 5)
    week_10 = capacity(_rows(scenario).only(frozenset({m.gjerdrum.pk}), whole_centre=False), period.buckets[WEEK_10])
    assert week_10["paused_patients"].value == 1.0  # g1 paused the whole week

    # The second way, day by day from the status rows.
    for kommune in (m.gjerdrum, m.nannestad, m.ullensaker):
        rows = _rows(scenario).only(frozenset({kommune.pk}), whole_centre=False)
        for bucket in [period.whole, *period.buckets]:
            got = capacity(rows, bucket)
            for state in ("active", "paused"):
                days = _active_days_from_rows([kommune.pk], bucket.first, bucket.last, state)
                assert got[f"{state}_patients"].value == round(days / bucket.days, 2), (kommune, bucket, state)


def _minutes(start, end):
    return (end - start).total_seconds() / 60


def test_alarm_burden_by_colour_kind_opening_hours_and_response_time(scenario):
    burden = alarm_burden(_rows(scenario), _period().whole)
    got = _values(burden)
    assert got["alerts"] == 8
    assert got["patient_weeks"] == round(446 / 7, 2)
    assert got["alerts_per_patient_week"] == round(8 / (446 / 7), 2) == 0.13
    assert (got["by_colour.red.alerts"], got["by_colour.yellow.alerts"]) == (3, 5)
    assert {k.split(".")[1]: v for k, v in got.items() if k.startswith("by_kind.") and k.endswith(".alerts")} == {
        "measurement": 3, "questionnaire": 1, "missing_measurement": 2, "missing_questionnaire": 1, "inactive": 1,
    }  # fmt: skip
    # First action (taken, not reached or handled), minutes: 20, 120, 2190, 970, 30, 40, 45 (a5 never).
    assert got["taken_median_minutes"] == 45
    assert got["taken_p90_minutes"] == 970 + 0.4 * (2190 - 970)
    # Handled: 50, 1440, 2190, 1050, 60, 40, 45.
    assert got["handled_median_minutes"] == 60
    assert got["handled_p90_minutes"] == 1440 + 0.4 * (2190 - 1440)
    # Inside opening hours (weekdays 08–15): all but Saturday 20:00 (a3) and Monday 16:00 (a4).
    assert (got["inside_opening_hours.alerts"], got["outside_opening_hours.alerts"]) == (6, 2)
    assert got["inside_opening_hours.handled_median_minutes"] == 50  # 40, 45, 50, 60, 1440
    assert got["outside_opening_hours.handled_median_minutes"] == (2190 + 1050) / 2
    # Within the worklist's rule: all but a4 (red, 1.5 open hours). a2 (yellow) took exactly one working day.
    assert got["handled_within_response_time_share"] == round(6 / 7, 3)
    assert got["not_reached_retries"] == 1
    assert got["alerts_per_nurse_day"] == round(8 / (2.25 * 28), 2)

    # The second way, from the alerts and their events.
    alerts = list(Alert.objects.filter(opened_at__date__gte=march(1), opened_at__date__lte=march(28)))
    first = {a.pk: min((e.at for e in AlertEvent.objects.filter(alert=a, kind__in=("taken", "not_reached", "handled"))),
                       default=None) for a in alerts}  # fmt: skip
    handled = sorted(_minutes(a.opened_at, a.handled_at) for a in alerts if a.handled_at)
    assert handled == sorted(a.seconds_to_handle / 60 for a in alerts if a.seconds_to_handle is not None)
    assert got["handled_median_minutes"] == statistics.median(handled)
    assert got["taken_median_minutes"] == statistics.median(_minutes(a.opened_at, first[a.pk]) for a in alerts
                                                            if first[a.pk])  # fmt: skip
    hours = OpeningHours.of(scenario.world.centres.ovre)
    assert got["inside_opening_hours.alerts"] == sum(hours.is_open(a.opened_at) for a in alerts)
    assert got["not_reached_retries"] == AlertEvent.objects.filter(kind="not_reached").count()


def test_adherence_counts_the_plans_schedule_on_active_days_only(scenario):
    got = _values(area_figures(_rows(scenario), _period().whole, ["adherence"])["adherence"])
    # g4: spo2 2 a day × 28 = 56, weight 1 × 2 days a week = 8; received 20 + 10 + 2 (3 on the 21st count 2) + 3.
    # g5: 28 of 28. g1: 21 active days (7 on pause), 21 received (the pause's readings do not count).
    assert got["by_type.spo2.expected"] == 56 + 28 + 21
    assert got["by_type.spo2.received"] == 32 + 28 + 21
    assert (got["by_type.weight.expected"], got["by_type.weight.received"]) == (8.0, 3)
    assert (got["expected"], got["received"]) == (113, 84)
    assert got["share"] == round(84 / 113, 3)
    assert got["patient_weeks"] == 11.0  # 28 + 28 + 21 days with a plan
    assert got["received_per_patient_week"] == round(84 / 11, 2)
    assert got["patients_without_plan"] == 14  # g2, g3, g6, Astrid, n1–n4, u1–u6


def test_the_funnel_counts_each_step_on_the_day_it_happened(scenario):
    got = _values(area_figures(_rows(scenario), _period().whole, ["funnel"])["funnel"])
    steps = ("referrals", "assessed", "granted", "refused", "consented", "started", "ended", "complaints")
    assert {step: got[step] for step in steps} == {
        "referrals": 5, "assessed": 4, "granted": 2, "refused": 1, "consented": 2, "started": 2,
        "ended": 3,  # g2 (too ill), g3 in Gjerdrum (moved), Astrid (withdrew); the merged record is no forløp
        "complaints": 1,
    }  # fmt: skip
    assert {k: got[f"conversion.{k}"] for k in ("assessed", "granted", "consented", "started")} == {
        "assessed": 0.8, "granted": round(2 / 3, 3), "consented": 1.0, "started": 1.0}  # fmt: skip
    # received → assessed 2, 2, 2, 1; assessed → vedtak 3, 2, 5; granted → samtykke 1, 3; samtykke → oppstart 6, 2.
    assert {k: got[f"median_days.{k}"] for k in ("assessed", "decided", "consented", "started")} == {
        "assessed": 2, "decided": 3, "consented": 2, "started": 4}  # fmt: skip
    assert {k.split(".")[1]: v for k, v in got.items() if k.startswith("endings_by_reason.") and v} == {
        "too_ill": 1, "moved": 1, "withdrew": 1}  # fmt: skip
    assert got["median_days_in_service"] == 47  # 14 (Astrid), 47 (g2), 49 (g3)
    gjerdrum = _rows(scenario).only(frozenset({scenario.world.m.gjerdrum.pk}), whole_centre=False)
    assert _values(area_figures(gjerdrum, _period().whole, ["funnel"])["funnel"])["referrals"] == 3


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [([1.0], 0.9, 1.0), ([1.0, 2.0], 0.5, 1.5), ([4.0, 1.0, 3.0, 2.0], 0.9, 3.7), ([], 0.5, None)],
)
def test_percentile_interpolates_between_the_closest_ranks(values, share, expected):
    found = percentile(values, share)
    assert found == pytest.approx(expected) if expected is not None else found is None


def test_an_alert_opened_outside_the_period_is_not_counted(scenario):
    period = period_parse("2100-03-13", "2100-03-28", "week", today=march(28))
    rows = rows_for(scenario.world.centres.ovre, [scenario.world.m.ullensaker.pk], period, whole_centre=False,
                    sections=ALL)  # fmt: skip
    assert [a.opened_at.astimezone(OSLO).date() for a in rows.alerts] == []
