"""A patient who moves to another kommune takes the plan along: an accepted move (patients' «mulig
flytting») puts the plan and its versions in the new kommune's rows, so its nurses and the fastlege
see the plan in force, and a new draft starts from it."""

import datetime

from django.utils import timezone

from ebp import services
from ebp.models import Plan, PlanVersion
from measurements.models import Reading
from measurements.services import integration_create, readings_ingest
from patients.models import MoveNotice
from tenants.models import AuditEvent
from tests.patients.test_moves import _grant
from triage import services as triage

RED_BELOW_90 = {"thresholds": {"spo2": {"value": {"red_below": 90, "yellow_below": 93}}}}


def _approved_in_grimstad(world, patient):
    version = services.draft_start(patient=patient, user=world.u.nurse_agder, content=RED_BELOW_90)
    services.draft_submit(version=version, user=world.u.nurse_agder)
    return services.version_approve(version=version, user=world.u.gp)


def _moved_to_gjerdrum(world, api, login, patient):
    _grant(api(world.u.coordinator), patient.national_id)
    notice = MoveNotice.objects.get(patient=patient)
    answered = login(world.u.nurse_agder).post(f"/patients/{patient.pk}/flytting/", {"notice": notice.pk,
                                                                                     "answer": "accept"})  # fmt: skip
    assert answered.status_code == 302
    patient.refresh_from_db()
    assert patient.municipality == world.m.gjerdrum


def test_it_moves_the_plan_with_the_patient_and_the_new_kommune_works_on_from_it(world, api, login):
    tove = world.p.grimstad
    approved = _approved_in_grimstad(world, tove)
    _moved_to_gjerdrum(world, api, login, tove)

    # Gjerdrum's nurse sees the plan in force, not «no approved plan» …
    nurse = login(world.u.nurse)
    page = nurse.get(f"/patients/{tove.pk}/plan/")
    assert page.status_code == 200 and page.context["active"] == approved
    assert "Versjon 1 gjelder" in page.text
    shown = api(world.u.nurse).get(f"/api/v1/patients/{tove.pk}/plan/")
    assert shown.status_code == 200 and shown.json()["number"] == 1

    # … and the next draft starts from it (no 500 from a plan hidden in the old kommune's rows).
    started = api(world.u.nurse).post(f"/api/v1/patients/{tove.pk}/plan/draft/", {}, format="json")
    assert started.status_code == 201, started.content
    assert started.json()["number"] == 2
    assert started.json()["content"]["thresholds"]["spo2"]["value"]["red_below"] == 90

    # Every row of the plan is Gjerdrum's now, the move of it audited.
    assert set(Plan.objects.filter(patient=tove).values_list("municipality_id", flat=True)) == {world.m.gjerdrum.pk}
    assert set(PlanVersion.objects.filter(plan__patient=tove).values_list("municipality_id", flat=True)) == {
        world.m.gjerdrum.pk
    }
    assert AuditEvent.objects.filter(object_type="plan", patient_id=tove.pk, action="update").exists()

    # Scoring colours her readings by the same plan the pages show.
    gateway, _token = integration_create(centre=world.centres.ovre, name="gw")
    at = (timezone.localtime() - datetime.timedelta(minutes=1)).isoformat()
    item = {"external_id": "m1", "patient_id": str(tove.pk), "type": "spo2", "value": 89, "unit": "%",
            "measured_at": at}  # fmt: skip
    [stored] = readings_ingest(integration=gateway, items=[item])
    triage.readings_score([stored.id])
    reading = Reading.objects.get(pk=stored.id)
    assert (reading.colour, reading.plan_version_id) == ("red", approved.pk)
