"""The gevinst's API: a patient's service use and survey answers (scoped: a 404 outside, a 403 for who
sees the patient but may not register; validated: a 400 naming the field), a survey that arrives
through the gateways' questionnaire ingest, and the report's endpoints in the OpenAPI schema."""

from __future__ import annotations

import datetime

from django.utils import timezone

from insight.models import ServiceUse, SurveyAnswer
from measurements.models import Answer
from measurements.services import answers_ingest
from tenants.models import AuditEvent


def _body(gevinst, **given) -> dict:
    return {
        "kind": "month_6",
        "period": {"from": gevinst.after[0].isoformat(), "to": gevinst.after[1].isoformat()},
        "home_nursing_hours_per_week": 3.5,
        "practical_help_hours_per_week": 0,
        "short_stay_days": 1,
        "emergency_contacts": 0,
        "hospital_admissions": 0,
        "bed_days": 0,
        "gp_consultations": 2,
        **given,
    }


def test_a_koordinator_reads_and_registers_service_use(gevinst, api):
    g6, client = gevinst.g["g6"], api(gevinst.world.u.coordinator)
    url = f"/api/v1/patients/{g6.pk}/service-use/"
    listed = client.get(url)
    assert listed.status_code == 200
    assert [r["kind"] for r in listed.json()["registrations"]] == ["baseline"]
    assert [(p["kind"], p["state"]) for p in listed.json()["due"]] == [
        ("baseline", "registered"),
        ("month_6", "due"),
        ("month_12", "due"),
    ]
    at = (timezone.now() - datetime.timedelta(days=2)).isoformat()
    created = client.post(url, _body(gevinst, at=at), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["kind"], body["period"]["from"], body["source"]) == ("month_6", gevinst.after[0].isoformat(), "api")
    assert body["home_nursing_hours_per_week"] == 3.5 and body["gp_consultations"] == 2
    row = ServiceUse.objects.get(pk=body["id"])
    assert row.registered_at.isoformat()[:16] == at[:16] and row.registered_by == gevinst.world.u.coordinator
    assert AuditEvent.objects.filter(object_type="service_use", object_id=str(row.pk), patient_id=g6.pk).exists()
    again = client.post(url, _body(gevinst), format="json")
    assert again.status_code == 400 and "registrert fra før" in str(again.json())


def test_a_wrong_body_is_a_400_naming_the_field(gevinst, api):
    url, client = f"/api/v1/patients/{gevinst.g['g6'].pk}/service-use/", api(gevinst.world.u.nurse)
    today = timezone.localdate()
    backwards = client.post(url, _body(gevinst, period={"from": today.isoformat(), "to": "2020-01-01"}), format="json")
    assert backwards.status_code == 400 and "før den begynner" in backwards.json()["period"][0]
    future = client.post(
        url,
        _body(gevinst, period={"from": today.isoformat(), "to": (today + datetime.timedelta(days=1)).isoformat()}),
        format="json",
    )
    assert "fram i tid" in future.json()["period"][0]
    errors = client.post(
        url, _body(gevinst, kind="month_3", home_nursing_hours_per_week=170, bed_days=-1), format="json"
    ).json()
    assert set(errors) == {"kind", "home_nursing_hours_per_week", "bed_days"}
    missing = client.post(url, {"kind": "baseline"}, format="json").json()
    assert {"period", "gp_consultations"} <= set(missing)
    too_many = client.post(
        url,
        _body(
            gevinst,
            period={
                "from": gevinst.after[0].isoformat(),
                "to": (gevinst.after[0] + datetime.timedelta(days=9)).isoformat(),
            },
            bed_days=11,
        ),
        format="json",
    )
    assert "flere enn dagene i perioden (10)" in too_many.json()["bed_days"][0]
    assert not ServiceUse.objects.filter(patient=gevinst.g["g6"], kind="month_6").exists()


def test_the_patients_endpoints_are_scoped(gevinst, api):
    g6 = gevinst.g["g6"]
    for path in ("service-use", "survey"):
        url = f"/api/v1/patients/{g6.pk}/{path}/"
        assert api(gevinst.world.u.nurse_agder).get(url).status_code == 404
        assert api(gevinst.world.u.leder).get(url).status_code == 404
        refused = api(gevinst.world.u.gp).get(url)  # their fastlege sees the patient, registers nothing
        assert refused.status_code == 403 and "koordinatorer" in refused.json()["detail"]
    assert (
        api(gevinst.world.u.nurse_agder)
        .post(f"/api/v1/patients/{g6.pk}/service-use/", _body(gevinst), format="json")
        .status_code
        == 404
    )
    assert not ServiceUse.objects.filter(patient=g6, kind="month_6").exists()


def test_a_survey_from_paper_through_the_api(gevinst, api):
    g6, client = gevinst.g["g6"], api(gevinst.world.u.nurse)
    url = f"/api/v1/patients/{g6.pk}/survey/"
    listed = client.get(url).json()
    assert [(s["source"], s["safer"], s["understanding"]) for s in listed] == [("device", "yes", None)]
    created = client.post(
        url, {"safer": "yes", "health": "worse", "joy": None, "comment": "Tryggere, men sliten."}, format="json"
    )
    assert created.status_code == 201, created.content
    assert (created.json()["health"], created.json()["joy"], created.json()["source"]) == ("worse", None, "paper")
    assert SurveyAnswer.objects.get(patient=g6).answered_on == timezone.localdate()
    wrong = client.post(url, {"safer": "kanskje", "answered_on": "2999-01-01"}, format="json")
    assert wrong.status_code == 400 and set(wrong.json()) == {"safer"}
    future = client.post(
        url,
        {"safer": "yes", "answered_on": (timezone.localdate() + datetime.timedelta(days=2)).isoformat()},
        format="json",
    )
    assert "fram i tid" in future.json()["answered_on"][0]
    empty = client.post(url, {"comment": "  "}, format="json")
    assert empty.status_code == 400 and "tomt" in str(empty.json())


def test_a_survey_arrives_through_the_questionnaire_ingest(gevinst):
    """A tablet sends the survey as questionnaire «survey»: its options are checked, it is not scored
    into an alert, and it counts beside the paper answers (the fixture's g6)."""
    g5 = gevinst.g["g5"]
    at = (timezone.now() - datetime.timedelta(hours=1)).isoformat()
    bad, good = answers_ingest(
        integration=gevinst.gateway,
        items=[
            {
                "external_id": "s-bad",
                "patient_id": str(g5.pk),
                "questionnaire": "survey",
                "answers": {"safer": "more", "mood": "yes"},
                "answered_at": at,
            },
            {
                "external_id": "s-good",
                "patient_id": str(g5.pk),
                "questionnaire": "survey",
                "answers": {"safer": "yes", "joy": "less"},
                "answered_at": at,
            },
        ],
    )
    assert bad.status == "rejected" and good.status == "created"
    messages = {e["field"]: e["message"] for e in bad.errors}
    assert "finnes ikke" in messages["answers.safer"] and "ukjent spørsmål" in messages["answers.mood"]
    symptoms = answers_ingest(
        integration=gevinst.gateway,
        items=[
            {
                "external_id": "d-1",
                "patient_id": str(g5.pk),
                "questionnaire": "daily_symptoms",
                "answers": {"dyspnea": "better"},
                "answered_at": at,
            }
        ],
    )
    assert symptoms[0].status == "rejected" and "yes eller no" in symptoms[0].errors[0]["message"]
    stored = Answer.objects.get(external_id="s-good")
    assert stored.questionnaire == "survey" and stored.answers == {"safer": "yes", "joy": "less"}


def test_the_gateways_answers_api_takes_a_survey(gevinst, client):
    from measurements.services import integration_create

    _integration, token = integration_create(centre=gevinst.world.centres.ovre, name="Nettbrett")
    at = (timezone.now() - datetime.timedelta(minutes=3)).isoformat()
    response = client.post(
        "/api/v1/answers",
        {
            "answers": [
                {
                    "external_id": "api-survey",
                    "patient_id": str(gevinst.g["g4"].pk),
                    "questionnaire": "survey",
                    "answers": {"safer": "yes", "fewer_admissions": "unknown"},
                    "answered_at": at,
                }
            ]
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["status"] == "created"


def test_the_endpoints_are_in_the_schema(gevinst, api):
    schema = api(gevinst.world.u.nurse).get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/patients/{patient_id}/service-use/"])
    assert {"get", "post"} <= set(paths["/api/v1/patients/{patient_id}/survey/"])
    report = paths["/api/v1/insight/gevinst/"]["get"]
    assert {p["name"] for p in report["parameters"]} >= {"from", "to", "municipality"}
    assert "404" in report["responses"] and "400" in report["responses"]
