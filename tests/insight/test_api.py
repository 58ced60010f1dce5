"""GET /api/v1/insight/: who sees which figures (a koordinator their kommune, the centre's nurses and
leder the centre, finance capacity and alarm burden, anyone else a 404), the small-cell rule as the
answer shows it, the 400s, the audit log's aggregate event and the schema."""

import datetime

import pytest

from billing.calculation import Segment
from insight.figures import DIFFERENCING, SMALL, WHOLE_CENTRE, Rows, reports_for
from insight.periods import period_parse
from patients.models import StatusChange
from patients.selectors import visible_patients
from tenants.models import AuditEvent
from tests.insight.conftest import march

URL = "/api/v1/insight/"
MARCH = {"from": "2100-03-01", "to": "2100-03-28", "granularity": "week"}


def _get(api, user, **params):
    return api(user).get(URL, {**MARCH, **params})


def _ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


def test_the_leder_sees_the_whole_centre_and_its_staffing(scenario, api):
    body = _ok(_get(api, scenario.world.u.leder))
    assert body["whole_centre"] is True
    assert [m["number"] for m in body["municipalities"]] == ["3230", "3238", "3209"]  # by name
    capacity = body["capacity"]
    assert (capacity["active_patients"], capacity["active_at_end"], capacity["nurse_fte"]) == (15.93, 15, 2.25)
    assert (capacity["patients_per_fte"], capacity["reference_per_fte"]) == (7.08, 80)
    assert capacity["reaches_reference_on"] == (march(28) + datetime.timedelta(days=1123)).isoformat()
    assert capacity["paused_patients"] is None and capacity["suppressed"]["paused_patients"] == SMALL  # g1 alone
    assert [b["label"] for b in body["buckets"]] == ["2100-W09", "2100-W10", "2100-W11", "2100-W12"]
    assert body["alarm_burden"]["alerts"] == 8
    assert body["funnel"]["referrals"] == 5 and body["adherence"] is not None


def test_a_koordinator_sees_their_kommune_computed_from_their_own_patients_only(scenario, api):
    coordinator = scenario.world.u.coordinator  # Gjerdrum
    body = _ok(_get(api, coordinator))
    assert body["whole_centre"] is False and [m["number"] for m in body["municipalities"]] == ["3230"]
    # The second way: the koordinator's own patients' status rows, day by day.
    own = visible_patients(coordinator)
    days = 0
    for patient in own:
        rows = StatusChange.objects.filter(patient=patient, municipality=scenario.world.m.gjerdrum)
        rows = list(rows.exclude(event__in=["granted", "moved", "evaluated"]).order_by("effective_date", "at", "id"))
        for offset in range(28):
            day, state = march(1) + datetime.timedelta(days=offset), None
            for row in rows:
                if row.effective_date <= day:
                    state = row.event
            days += state in ("started", "resumed")
    # g3 moved away: still Gjerdrum's until the 21st, though the record is Nannestad's now.
    g3_days = 21
    assert body["capacity"]["active_patients"] == round((days + g3_days) / 28, 2) == round(159 / 28, 2)
    assert body["capacity"]["active_at_end"] is None  # g1, g4, g5, g6: four people
    assert body["capacity"]["suppressed"]["active_at_end"] == SMALL
    assert body["capacity"]["nurse_fte"] is None
    assert body["capacity"]["suppressed"]["nurse_fte"] == WHOLE_CENTRE
    assert body["funnel"]["referrals"] is None  # 3 henvisninger: Astrid, Berit, Cecilie
    assert _get(api, coordinator, municipality="3238").status_code == 404
    assert _get(api, coordinator, municipality="3230").json()["capacity"] == body["capacity"]


def test_four_people_are_suppressed_and_five_are_shown(scenario, api):
    body = _ok(_get(api, scenario.coordinator_n))  # Nannestad: n1–n4, and g3 from the 22nd
    assert (body["capacity"]["active_at_end"], body["capacity"]["active_patients"]) == (5, 4.25)
    weeks = [b["capacity"] for b in body["buckets"]]
    assert [w["suppressed"].get("active_patients") for w in weeks[:3]] == [SMALL] * 3  # n1–n4
    # Week 12 holds five people, yet with the period shown it would give away the other weeks' four.
    assert weeks[3]["active_patients"] is None and weeks[3]["suppressed"]["active_patients"] == DIFFERENCING


def test_no_kommune_figure_differs_from_the_centres_total_by_a_small_cell(scenario, api):
    leder = scenario.world.u.leder
    centre = _ok(_get(api, leder))["capacity"]
    kommuner = {n: _ok(_get(api, leder, municipality=n))["capacity"] for n in ("3230", "3238", "3209")}
    assert centre["active_at_end"] == 15
    assert kommuner["3230"]["suppressed"]["active_at_end"] == SMALL  # 4
    # 15 − Ullensaker's 6 − Nannestad's 5 would be Gjerdrum's 4: the smallest other kommune is hidden too.
    assert kommuner["3238"]["suppressed"]["active_at_end"] == DIFFERENCING
    assert kommuner["3209"]["active_at_end"] == 6
    for figures in kommuner.values():
        assert figures["nurse_fte"] is None  # a kommune's answer never carries the centre's own figures


def test_finance_sees_capacity_and_alarm_burden_only(scenario, api):
    body = _ok(_get(api, scenario.world.u.finance))
    assert body["capacity"]["active_patients"] == 15.93 and body["alarm_burden"]["alerts"] == 8
    assert body["adherence"] is None and body["funnel"] is None
    assert all(b["funnel"] is None for b in body["buckets"])


@pytest.mark.parametrize("role", ["gp", "specialist", "admin"])
def test_everyone_else_gets_404(scenario, api, role):
    user = getattr(scenario.world.u, role)
    assert _get(api, user).status_code == 404
    assert _get(api, user, centre="ovre").status_code == 404
    assert _get(api, user, municipality="3230").status_code == 404


def test_the_centres_nurse_sees_the_centre_and_another_centres_nurse_not_its_kommune(scenario, api):
    assert _ok(_get(api, scenario.world.u.nurse))["whole_centre"] is True
    agder = _get(api, scenario.world.u.nurse_agder, centre="agder")  # Agder's nurse: Agder's kommuner only
    assert _ok(agder)["centre"]["slug"] == "agder"
    assert _get(api, scenario.world.u.nurse_agder, centre="agder", municipality="3230").status_code == 404


def test_the_leder_has_no_patient_page_and_no_patient_list(scenario, api, login):
    leder = scenario.world.u.leder
    client = login(leder)
    for patient in (scenario.g[0], scenario.n[0], scenario.world.p.ullensaker):
        assert client.get(f"/patients/{patient.pk}/").status_code == 404
        assert api(leder).get(f"/api/v1/patients/{patient.pk}/").status_code == 404
    assert visible_patients(leder).count() == 0
    listed = api(leder).get("/api/v1/patients/")
    assert listed.status_code == 404 or listed.json().get("results", listed.json()) in ([], {"count": 0})


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"from": "1. mars"}, "from", "er ikke en dato"),
        ({"to": "2100-02-30"}, "to", "er ikke en dato"),
        ({"granularity": "day"}, "granularity", "finnes ikke"),
        ({"from": "2100-03-20", "to": "2100-03-10"}, "from", "er etter til-datoen"),
        ({"from": "2100-04-01"}, "from", "fram i tid"),
        ({"from": "2095-01-01"}, "from", "for lang"),
        ({"municipality": "12"}, "municipality", "fire sifre"),
    ],
)
def test_bad_parameters_are_a_400_saying_what_was_wrong(scenario, api, params, field, says):
    response = _get(api, scenario.world.u.leder, **params)
    assert response.status_code == 400
    assert says in response.json()[field][0]


def test_an_unknown_kommune_is_a_404_like_one_outside_the_scope(scenario, api):
    assert _get(api, scenario.world.u.leder, municipality="9999").status_code == 404
    assert _get(api, scenario.world.u.leder, municipality="4203").status_code == 404  # Agder's host


def test_a_read_is_audited_as_one_aggregate_event_without_patients(scenario, api):
    since = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    _ok(_get(api, scenario.world.u.coordinator))
    events = list(AuditEvent.objects.filter(pk__gt=since))
    assert [(e.object_type, e.patient_id, e.role, e.username) for e in events] == [
        ("insight", None, "coordinator", "coord_gjerdrum")]  # fmt: skip
    assert events[0].object_id.startswith("/api/v1/insight/?")
    assert events[0].municipality_id is None  # no kommune chosen: the answer is the koordinator's kommuner
    _ok(_get(api, scenario.world.u.coordinator, municipality="3230"))
    assert AuditEvent.objects.order_by("-pk").first().municipality_id == scenario.world.m.gjerdrum.pk


def test_the_endpoint_is_in_the_schema_with_its_fields(api, world):
    schema = api(world.u.nurse).get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/insight/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"from", "to", "granularity", "municipality", "centre"}
    components = schema["components"]["schemas"]
    assert {"active_patients", "nurse_fte", "patients_per_fte", "reaches_reference_on", "suppressed"} <= set(
        components["Capacity"]["properties"]
    )
    assert {"taken_median_minutes", "handled_p90_minutes", "handled_within_response_time_share",
            "not_reached_retries", "alerts_per_nurse_day"} <= set(components["AlarmBurden"]["properties"])  # fmt: skip


# --- the rule itself, on plain rows --------------------------------------------------------------


def _segments(municipality_id: int, count: int, prefix: str) -> list[Segment]:
    first, end = march(1).toordinal(), march(29).toordinal()
    return [Segment(f"{prefix}{i}", municipality_id, "active", first, end) for i in range(count)]


def test_the_rule_on_plain_rows_four_hidden_five_shown_and_the_total_protected():
    period = period_parse("2100-03-01", "2100-03-28", "month", today=march(28))
    rows = Rows(segments=[*_segments(1, 4, "a"), *_segments(2, 5, "b"), *_segments(3, 6, "c")])
    parts = {str(m): frozenset({m}) for m in (1, 2, 3)}
    reports = reports_for(rows, period, parts=parts, whole="whole", whole_ids=frozenset({1, 2, 3}),
                          whole_centre=False, sections=["capacity"])  # fmt: skip
    cells = {name: report.total["capacity"]["active_at_end"] for name, report in reports.items()}
    assert (cells["1"].value, cells["1"].reason) == (None, SMALL)
    assert (cells["2"].value, cells["2"].reason) == (None, DIFFERENCING)  # the smallest shown other kommune
    assert (cells["3"].value, cells["whole"].value) == (6, 15)
    alone = reports_for(Rows(segments=_segments(2, 5, "b")), period, parts={"2": frozenset({2})}, whole=None,
                        whole_ids=frozenset({2}), whole_centre=False, sections=["capacity"])  # fmt: skip
    assert alone["2"].total["capacity"]["active_at_end"].value == 5
