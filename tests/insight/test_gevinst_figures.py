"""The gevinst figures: each computed a second way from the raw rows (the registrations as stored, the
survey answers from paper and from a tablet), a hand count on a tiny world, the small-cell rule (fewer
than 5 people, differencing over the kommuner and over the points after oppstart, what builds on a
hidden figure), and who sees which kommune's figures (a koordinator's equal those of their own
patients only; the leder the centre's; finance, a fastlege, the centre admin nothing)."""

from __future__ import annotations

import datetime
from fractions import Fraction

import pytest
from django.utils import timezone

from insight.figures import DERIVED, DIFFERENCING, SMALL
from insight.gevinst.figures import GevinstRows, ServiceRow, SurveyRow, reports_for, service_use, survey
from insight.gevinst.selectors import gevinst_period, survey_rows
from insight.models import SERVICE_FIELDS, ComparisonServiceUse, ServiceUse, SurveyAnswer
from measurements.models import Answer
from measurements.services import answers_ingest
from patients.selectors import visible_patients
from tenants.models import AuditEvent
from tests.factories import MembershipFactory, UserFactory
from triage.opening_hours import OSLO

URL = "/api/v1/insight/gevinst/"
DAYS_PER_MONTH = Fraction(36525, 1200)  # 365.25 / 12, written out again


def _get(api, user, **params):
    response = api(user).get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def second_way(rows) -> dict:
    """Patients, patient-months and each figure per patient-month, from model rows, in exact fractions."""
    days = {r.pk: (r.period_to - r.period_from).days + 1 for r in rows}
    months = sum(Fraction(d) for d in days.values()) / DAYS_PER_MONTH
    out = {"patient_months": round(float(months), 1)}
    for f in SERVICE_FIELDS:
        total = sum(Fraction(str(getattr(r, f.name))) * (Fraction(days[r.pk], 7) if f.per_week else 1) for r in rows)
        out[f.name] = float(total / months)
    return out


def _same(figures: dict, expected: dict, people: int) -> None:
    assert figures["patients"] == people
    assert figures["patient_months"] == expected["patient_months"]
    for f in SERVICE_FIELDS:
        assert figures[f.name] == pytest.approx(expected[f.name], abs=0.006), f.name


# --- the figures, a second way ------------------------------------------------------------------


def test_the_koordinators_service_use_equals_their_own_patients_rows(gevinst, api):
    coordinator = gevinst.world.u.coordinator  # Gjerdrum
    body = _get(api, coordinator)
    assert [m["number"] for m in body["municipalities"]] == ["3230"]
    own = visible_patients(coordinator)
    rows = ServiceUse.objects.filter(patient__in=own)
    assert rows.count() == 11 and not rows.exclude(patient__municipality__number="3230").exists()
    use = body["service_use"]
    _same(use["before"], second_way(rows.filter(kind="baseline")), 6)
    _same(use["after"], second_way(rows.filter(kind__in=["month_6", "month_12", "end"])), 5)
    _same(use["after_by_kind"]["month_6"], second_way(rows.filter(kind="month_6")), 5)
    for f in SERVICE_FIELDS:
        assert use["change"][f.name] == round(use["after"][f.name] - use["before"][f.name], 2)
    # Nannestad's three are not in it: its null-punkt rows would have made the «before» differ.
    assert second_way(ServiceUse.objects.filter(kind="baseline")) != second_way(rows.filter(kind="baseline"))


def test_the_hours_per_week_become_hours_per_patient_month_by_hand():
    """Five people, a year each at 7 hours a week: 365 hours each over 12 patient-months."""
    year = [
        ServiceRow(
            f"p{i}",
            1,
            "baseline",
            365,
            {
                "home_nursing_hours_per_week": 7 * 365 / 7,
                **{f.name: float(i) for f in SERVICE_FIELDS if f.name != "home_nursing_hours_per_week"},
            },
        )
        for i in range(5)
    ]
    section = service_use(year)
    assert section["before.patients"].value == 5
    assert section["before.patient_months"].value == 60.0  # 5 × 365 ÷ 30.4375 = 59.96
    assert section["before.home_nursing_hours_per_week"].value == 30.44  # 7 × 365.25 ÷ 12 ÷ 7 × 7 … per month
    assert section["before.bed_days"].value == 0.17  # (0+1+2+3+4) ÷ 59.96
    assert section["after.patients"].value == 0 and section["change.bed_days"].value is None


def test_the_comparison_group_is_computed_the_same_way_from_its_rows(gevinst, api):
    body = _get(api, gevinst.world.u.coordinator)
    rows = ComparisonServiceUse.objects.filter(municipality=gevinst.world.m.gjerdrum)
    _same(body["comparison"]["before"], second_way(rows.filter(kind="baseline")), 6)
    _same(body["comparison"]["after"], second_way(rows.exclude(kind="baseline")), 5)


def _latest_answers(municipality) -> dict:
    """Each patient's latest survey answer, from the tablet's rows and the paper rows, read apart: the
    tablet's in the order answered, then the paper's, which win over a tablet's of the same day."""
    found = {}
    for answer in Answer.objects.filter(municipality=municipality, questionnaire="survey").order_by("answered_at"):
        found[answer.patient_id] = (answer.answered_at.astimezone(OSLO).date(), answer.answers)
    for row in SurveyAnswer.objects.filter(municipality=municipality).order_by("answered_on", "registered_at"):
        if row.patient_id in found and found[row.patient_id][0] > row.answered_on:
            continue
        found[row.patient_id] = (
            row.answered_on,
            {
                k: v
                for k, v in {
                    "safer": row.safer,
                    "health": row.health,
                    "joy": row.joy,
                    "understanding": row.understanding,
                    "fewer_gp_visits": row.fewer_gp_visits,
                    "fewer_admissions": row.fewer_admissions,
                }.items()
                if v
            },
        )
    return {patient: answers for patient, (_day, answers) in found.items()}


def test_the_survey_distributions_are_each_patients_latest_answer(gevinst, api):
    body = _get(api, gevinst.world.u.coordinator)["survey"]
    latest = _latest_answers(gevinst.world.m.gjerdrum)
    assert body["respondents"] == len(latest) == 6  # g1 answered twice, g6 from a tablet
    for question in ("safer", "health", "joy"):
        assert body[question]["respondents"] == sum(1 for a in latest.values() if question in a) == 6
    joy = [a["joy"] for a in latest.values()]
    assert body["joy"]["more"] == joy.count("more") == 6 and body["joy"]["more_share"] == 1.0
    # Five «tryggere» and one «vet ikke»: the one is hidden, and so is the five it would be worked out from.
    safer = [a["safer"] for a in latest.values()]
    assert (safer.count("yes"), safer.count("unknown")) == (5, 1)
    assert body["safer"]["unknown"] is None and body["suppressed"]["safer.unknown"] == SMALL
    assert body["safer"]["yes"] is None and body["suppressed"]["safer.yes"] == DIFFERENCING
    assert body["suppressed"]["safer.yes_share"] == DERIVED
    # g1's first answer («nei», «verre») was replaced by the later one.
    assert "no" not in safer and body["suppressed"]["health.worse"] == SMALL


def test_of_two_tablet_answers_on_one_day_the_later_one_counts(gevinst):
    """g6 answers «nei» at 09:00 and «ja» at 14:00 on one day (sent in that order or the other): «ja»."""
    g6, gjerdrum = gevinst.g["g6"], gevinst.world.m.gjerdrum
    day = timezone.localdate() - datetime.timedelta(days=2)
    sent = [(14, "yes"), (9, "no")]  # the later first: the order they arrive in must not matter
    for hour, safer in sent:
        at = datetime.datetime.combine(day, datetime.time(hour), tzinfo=OSLO)
        [result] = answers_ingest(integration=gevinst.gateway, items=[{
            "external_id": f"survey-g6-{hour}", "patient_id": str(g6.pk), "questionnaire": "survey",
            "answers": {"safer": safer, "joy": "more"}, "answered_at": at.isoformat()}])  # fmt: skip
        assert result.status == "created", result
    rows = {r.person: r for r in survey_rows([gjerdrum.pk], gevinst_period(today=timezone.localdate()))}
    assert (rows[f"p:{g6.pk}"].answered_on, rows[f"p:{g6.pk}"].answers["safer"]) == (day, "yes")
    assert _latest_answers(gjerdrum)[g6.pk]["safer"] == "yes"  # the second way agrees


def test_a_survey_is_shown_when_every_option_holds_five(db):
    rows = [SurveyRow(f"p{i}", 1, datetime.date(2026, 1, 1), {"safer": "yes" if i < 10 else "no"}) for i in range(15)]
    section = survey(rows)
    assert (section["safer.yes"].value, section["safer.no"].value, section["safer.respondents"].value) == (10, 5, 15)
    assert section["safer.yes_share"].value == 0.667 and section["safer.no_share"].value == 0.333


# --- the small-cell rule ----------------------------------------------------------------------------


def _rows(prefix: str, municipality: int, kind: str, n: int) -> list[ServiceRow]:
    return [
        ServiceRow(f"{prefix}{i}", municipality, kind, 100, {f.name: 1.0 for f in SERVICE_FIELDS}) for i in range(n)
    ]


def test_the_rule_hides_small_cells_their_differences_and_what_builds_on_them():
    rows = GevinstRows(
        service=[
            *_rows("a", 1, "baseline", 5),
            *_rows("b", 2, "baseline", 3),
            *_rows("a", 1, "month_6", 5),
            *_rows("c", 1, "month_12", 2),
        ]
    )
    reports = reports_for(
        rows, parts={"1": frozenset({1}), "2": frozenset({2})}, whole="whole", whole_ids=frozenset({1, 2})
    )
    a, b, whole = (reports[k]["service_use"] for k in ("1", "2", "whole"))
    assert whole["before.patients"].value == 8 and whole["before.bed_days"].value is not None
    assert b["before.patients"].reason == SMALL  # three people
    # Five people in kommune 1, but with the whole shown they would give away kommune 2's three.
    assert a["before.patients"].reason == DIFFERENCING and a["before.bed_days"].reason == DERIVED
    # After oppstart: the 12 months' two are hidden, and the 6 months' five with them (after = 6 + 12).
    assert a["after_by_kind.month_12.patient_months"].reason == SMALL
    assert a["after_by_kind.month_6.patient_months"].reason == DIFFERENCING
    assert a["after_by_kind.month_6.bed_days"].reason == DERIVED
    assert a["after.patients"].value == 7 and a["change.bed_days"].reason == DERIVED  # «before» is hidden


def test_the_leder_sees_the_centre_and_a_kommune_hidden_that_would_give_another_away(gevinst, api):
    leder = gevinst.world.u.leder
    body = _get(api, leder)
    assert [m["number"] for m in body["municipalities"]] == ["3230", "3238", "3209"]
    every = ServiceUse.objects.filter(kind="baseline")
    _same(body["service_use"]["before"], second_way(every), 9)  # Gjerdrum's six and Nannestad's three
    gjerdrum = _get(api, leder, municipality="3230")["service_use"]
    assert gjerdrum["before"]["patients"] is None
    assert gjerdrum["suppressed"]["before.patients"] == DIFFERENCING
    nannestad = _get(api, leder, municipality="3238")["service_use"]
    assert nannestad["before"]["patients"] is None and nannestad["suppressed"]["before.patients"] == SMALL
    assert nannestad["before"]["bed_days"] is None


def test_a_kommune_with_three_patients_shows_its_koordinator_nothing_of_them(gevinst, api):
    coordinator = UserFactory(username="coord_nannestad_gevinst")
    MembershipFactory(user=coordinator, role="coordinator", municipality=gevinst.world.m.nannestad)
    body = _get(api, coordinator)
    assert [m["number"] for m in body["municipalities"]] == ["3238"]
    assert body["service_use"]["before"]["patients"] is None
    assert body["service_use"]["suppressed"]["before.home_nursing_hours_per_week"] == SMALL
    assert body["survey"]["respondents"] is None and body["comparison"]["before"]["patients"] is None


@pytest.mark.parametrize("role", ["finance", "gp", "admin", "specialist"])
def test_roles_without_every_figure_see_no_gevinst(gevinst, api, role):
    assert api(getattr(gevinst.world.u, role)).get(URL).status_code == 404


def test_a_kommune_outside_the_users_figures_is_a_404_and_a_read_is_one_aggregate_event(gevinst, api):
    coordinator = gevinst.world.u.coordinator
    assert api(coordinator).get(URL, {"municipality": "3238"}).status_code == 404
    assert api(coordinator).get(URL, {"municipality": "9999"}).status_code == 404
    before = AuditEvent.objects.count()
    _get(api, coordinator, municipality="3230")
    [event] = AuditEvent.objects.order_by("-pk")[: AuditEvent.objects.count() - before]
    assert (event.object_type, event.patient_id, event.municipality_id) == (
        "gevinst",
        None,
        gevinst.world.m.gjerdrum.pk,
    )
    assert event.object_id.startswith("/api/v1/insight/gevinst/") and event.role == "coordinator"


def test_the_period_counts_the_registrations_that_end_in_it(gevinst, api):
    """The null-punkt ends the day before oppstart, 6 months 181 days after: a period between them
    holds the 6 months only."""
    first = gevinst.started.isoformat()
    body = _get(api, gevinst.world.u.coordinator, **{"from": first})
    assert body["from"] == first
    assert body["service_use"]["before"]["patients"] is None  # none: the null-punkt ended before
    assert body["service_use"]["after"]["patients"] == 5
    wrong = api(gevinst.world.u.coordinator).get(URL, {"from": "1.mars"})
    assert wrong.status_code == 400 and "from" in wrong.json()
    assert api(gevinst.world.u.coordinator).get(URL, {"municipality": "32"}).status_code == 400
