"""The EBP workflow end to end: draft → submitted → returned / active → superseded, who may do what,
immutability, and the audit trail. Through the API, the pages and the services."""

import pytest
from django.db import DatabaseError, transaction

from ebp.models import ImmutableVersion, PlanVersion
from tenants.models import AuditEvent
from tests.factories import MembershipFactory, UserFactory

OLAV_LIKE = {
    "goals": "Gå tur med hunden hver dag",
    "diagnoses": ["kols"],
    "thresholds": {
        "spo2": {"value": {"red_below": 88, "yellow_below": 92}},
        "pulse": {"value": {"yellow_above": 100, "red_above": 120}},
    },
    "actions": {"red": {"patient_medicinal": "Start reservekuren", "whom_to_call": "Legevakt 116117"}},
}


def _api(world, login, user, patient, step, **body):
    return login(user).post(f"/api/v1/patients/{patient.pk}/plan/{step}/", body, content_type="application/json")


def test_the_whole_workflow_through_the_api(world, login):
    nurse, gp, patient = world.u.nurse, world.u.gp, world.p.gjerdrum

    created = _api(world, login, nurse, patient, "draft", template="kols")
    assert created.status_code == 201, created.content
    assert created.json()["number"] == 1 and created.json()["status"] == "draft"
    assert created.json()["content"]["thresholds"]["spo2"]["value"]["red_below"] == 88  # from the KOLS template

    assert (
        _api(world, login, nurse, patient, "draft", content=OLAV_LIKE).json()["content"]["goals"] == OLAV_LIKE["goals"]
    )
    assert _api(world, login, nurse, patient, "submit").json()["status"] == "submitted"

    returned = _api(world, login, gp, patient, "return", comment="Puls rød over 120 er for høyt, bruk 115.")
    assert returned.json()["status"] == "returned"
    assert returned.json()["decision_comment"] == "Puls rød over 120 er for høyt, bruk 115."
    assert login(nurse).get(f"/api/v1/patients/{patient.pk}/plan/").status_code == 404  # nothing approved yet

    second = dict(
        OLAV_LIKE, thresholds={**OLAV_LIKE["thresholds"], "pulse": {"value": {"yellow_above": 100, "red_above": 115}}}
    )
    assert _api(world, login, nurse, patient, "draft", content=second).json()["number"] == 2
    _api(world, login, nurse, patient, "submit")
    approved = _api(world, login, gp, patient, "approve", version=2)
    assert approved.status_code == 200 and approved.json()["status"] == "active"
    assert approved.json()["decided_by"]

    active = login(world.u.coordinator).get(f"/api/v1/patients/{patient.pk}/plan/").json()
    assert active["number"] == 2
    assert active["content"]["thresholds"]["pulse"]["value"]["red_above"] == 115

    # A third version supersedes the second; editing starts from the active one.
    third = _api(world, login, nurse, patient, "draft")
    assert third.json()["content"]["thresholds"]["pulse"]["value"]["red_above"] == 115
    _api(world, login, nurse, patient, "submit")
    _api(world, login, gp, patient, "approve")
    statuses = {
        v["number"]: v["status"] for v in login(nurse).get(f"/api/v1/patients/{patient.pk}/plan/versions/").json()
    }
    assert statuses == {1: "returned", 2: "superseded", 3: "active"}


def test_every_step_is_audited_with_who_and_role(world, login):
    nurse, gp, patient = world.u.nurse, world.u.gp, world.p.gjerdrum
    before = AuditEvent.objects.filter(object_type="plan_version").count()
    _api(world, login, nurse, patient, "draft", content=OLAV_LIKE)
    _api(world, login, nurse, patient, "submit")
    _api(world, login, gp, patient, "approve")
    events = list(AuditEvent.objects.filter(object_type="plan_version").order_by("at", "id"))[before:]
    assert [(e.username, e.role, e.action) for e in events] == [
        ("nurse", "nurse", "create"),
        ("nurse", "nurse", "update"),
        ("gp", "gp", "update"),
    ]
    assert all(e.patient_id == patient.pk and e.municipality_id == patient.municipality_id for e in events)


def test_submitted_versions_never_change(world, login):
    _api(world, login, world.u.nurse, world.p.gjerdrum, "draft", content=OLAV_LIKE)
    _api(world, login, world.u.nurse, world.p.gjerdrum, "submit")
    version = PlanVersion.objects.get(plan__patient=world.p.gjerdrum)
    version.content = {**version.content, "goals": "endret i det stille"}
    with pytest.raises(ImmutableVersion):
        version.save()
    # The database refuses it too, whatever path the write takes.
    with pytest.raises(DatabaseError, match="kan ikke endres"), transaction.atomic():
        PlanVersion.objects.filter(pk=version.pk).update(content={})
    with pytest.raises(DatabaseError, match="kan ikke slettes"), transaction.atomic():
        PlanVersion.objects.filter(pk=version.pk).delete()
    # And the API offers no way to edit it: a new draft is refused while one waits for the fastlege.
    # The nurse may draft; the plan's state says no: a refusal (400), not a missing right (403).
    refused = _api(world, login, world.u.nurse, world.p.gjerdrum, "draft", content=OLAV_LIKE)
    assert refused.status_code == 400
    assert "fullfør den" in refused.json()["detail"]
    version.refresh_from_db()
    assert version.content["goals"] == OLAV_LIKE["goals"]


def test_a_nurse_cannot_approve_and_a_coordinator_can_read_but_not_edit(world, login):
    patient = world.p.gjerdrum
    _api(world, login, world.u.nurse, patient, "draft", content=OLAV_LIKE)
    _api(world, login, world.u.nurse, patient, "submit")
    refused = _api(world, login, world.u.nurse, patient, "approve")
    assert refused.status_code == 403
    assert "fastlege" in refused.json()["detail"]
    coordinator = login(world.u.coordinator)
    assert coordinator.get(f"/api/v1/patients/{patient.pk}/plan/versions/").status_code == 200
    assert coordinator.get(f"/patients/{patient.pk}/plan/versions/1/").status_code == 200
    assert _api(world, login, world.u.coordinator, patient, "return", comment="nei").status_code == 403
    assert coordinator.get(f"/patients/{patient.pk}/plan/draft/").status_code == 403
    assert PlanVersion.objects.get(plan__patient=patient).status == "submitted"


def test_another_fastlege_gets_404_and_cannot_approve(world, login):
    other = UserFactory(username="annen_fastlege")
    MembershipFactory(user=other, role="gp", municipality=world.m.gjerdrum)
    patient = world.p.gjerdrum
    _api(world, login, world.u.nurse, patient, "draft", content=OLAV_LIKE)
    _api(world, login, world.u.nurse, patient, "submit")
    assert _api(world, login, other, patient, "approve").status_code == 404
    assert login(other).get(f"/patients/{patient.pk}/plan/versions/1/").status_code == 404
    assert (
        login(other).post(f"/patients/{patient.pk}/plan/versions/1/decision/", {"decision": "approve"}).status_code
        == 404
    )
    assert PlanVersion.objects.get(plan__patient=patient).status == "submitted"


def test_invalid_content_is_refused_with_the_field_named(world, login):
    bad = {
        "thresholds": {"spo2": {"value": {"red_below": 92, "yellow_below": 88}}, "weight": {"value": {"red_below": -1}}}
    }
    response = _api(world, login, world.u.nurse, world.p.gjerdrum, "draft", content=bad)
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"thresholds.spo2.value.yellow_below", "thresholds.weight.value.red_below"}
    assert not PlanVersion.objects.exists()


def test_a_returned_version_needs_a_comment(world, login):
    _api(world, login, world.u.nurse, world.p.gjerdrum, "draft", content=OLAV_LIKE)
    _api(world, login, world.u.nurse, world.p.gjerdrum, "submit")
    response = _api(world, login, world.u.gp, world.p.gjerdrum, "return", comment="  ")
    assert response.status_code == 400 and "kommentar" in response.json()["detail"]  # the fastlege may return


def test_the_pages_walk_the_workflow(world, login):
    nurse, gp, patient = login(world.u.nurse), login(world.u.gp), world.p.gjerdrum
    plan_url = f"/patients/{patient.pk}/plan/"
    assert "ingen godkjent plan" in nurse.get(plan_url).content.decode()
    assert nurse.post(f"{plan_url}draft/start/", {"template": "kols"}).status_code == 302
    form = nurse.get(f"{plan_url}draft/")
    assert form.status_code == 200
    data = {k: v for k, v in form.context["form"].initial.items() if v not in (None, [], "")}
    data = {k: (str(v).replace(".", ",") if isinstance(v, float) else v) for k, v in data.items()}

    wrong = dict(data, **{"spo2__value__yellow_below": "85"})
    page = nurse.post(f"{plan_url}draft/", wrong)
    assert page.status_code == 400
    assert "gul under (85) må være høyere enn rød under (88)" in page.content.decode()

    data["goals"] = "Klare trappene hjemme"
    assert nurse.post(f"{plan_url}draft/", dict(data, submit="1")).status_code == 302
    queue = gp.get("/approvals/").content.decode()
    assert patient.name in queue

    review = gp.get(f"{plan_url}versions/1/").content.decode()
    assert "Godkjenn planen" in review and "Klare trappene hjemme" in review
    assert gp.post(f"{plan_url}versions/1/decision/", {"decision": "approve"}).status_code == 302
    shown = nurse.get(plan_url).content.decode()
    assert "Versjon 1 gjelder" in shown and "under 88" in shown

    # The next version shows the fastlege exactly what changed.
    nurse.post(f"{plan_url}draft/start/", {})
    data["spo2__value__red_below"] = "86"
    nurse.post(f"{plan_url}draft/", dict(data, submit="1"))
    review = gp.get(f"{plan_url}versions/2/")
    changed = [row for row in review.context["diff"] if row.changed]
    assert [(r.field, r.old, r.new) for r in changed] == [("Oksygenmetning (SpO2) – rød under", "88", "86")]
    assert "(endret)" in review.content.decode()


def test_the_pdf_is_served_for_the_active_plan_and_audited_as_an_export(world, login):
    patient = world.p.gjerdrum
    client = login(world.u.nurse)
    assert client.get(f"/patients/{patient.pk}/plan.pdf").status_code == 404
    _api(world, login, world.u.nurse, patient, "draft", content=OLAV_LIKE)
    _api(world, login, world.u.nurse, patient, "submit")
    _api(world, login, world.u.gp, patient, "approve")
    response = client.get(f"/patients/{patient.pk}/plan.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert AuditEvent.objects.filter(object_type="plan_version", action="export", patient_id=patient.pk).count() == 1


@pytest.mark.parametrize("given", ["abc", "1.0", "-1", "99999999999999999999", "١"])
def test_a_draft_from_a_version_that_is_no_number_or_none_of_the_patients_is_not_found(world, login, given):
    """The «from_version» of «Lag nytt utkast fra denne» is a version's number; anything else (typed
    into the form by hand) is a page that is not there, not a server error."""
    plan_url = f"/patients/{world.p.gjerdrum.pk}/plan/"
    assert login(world.u.nurse).post(f"{plan_url}draft/start/", {"from_version": given}).status_code == 404
