"""One refusal contract (tenants.errors): a service's `Refused` is a 400 with its message (a `Stale`
one, asked against a state that has changed, a 409), a `NotAllowed` a 403 with its message, outside
the scope a 404; the API's exception handler maps them once, so no API view catches a refusal by
hand."""

import re
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from rest_framework.views import APIView

import billing.services
import ebp.access
import ebp.selectors
import ebp.services
import journaling.validation
import patients.access
import patients.services
import patients.services.equipment
import patients.services.moves
import triage.services
from tenants.api_input import exception_handler
from tenants.errors import NotAllowed, Refused
from tests.ebp.test_workflow import OLAV_LIKE

ROOT = Path(__file__).resolve().parents[2]
APPS = ("tenants", "patients", "measurements", "ebp", "triage", "billing", "journaling", "insight")


def test_no_api_view_catches_a_refusal_by_hand():
    catches = [
        f"{path.relative_to(ROOT)}:{number}"
        for app in APPS
        for path in (ROOT / app).glob("api*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"except\b.*(Refused|Required|NotAllowed)", line)
    ]
    assert catches == [], "the API's exception handler (tenants.api_input) answers refusals"


REFUSALS = [
    patients.services.ContactInfoRefused,
    patients.services.ReferralRefused,
    patients.services.moves.MoveRefused,
    patients.services.equipment.EquipmentRefused,
    patients.services.StatusRefused,
    patients.services.FastlegeRefused,
    ebp.services.PlanRefused,
    ebp.services.CommentRequired,
    billing.services.BillingRefused,
    triage.services.AlertRefused,
    triage.services.AlertChanged,
    journaling.validation.DocumentRefused,
]
NOT_ALLOWED = [
    patients.services.ReferralRoleRequired,
    patients.services.equipment.EquipmentRoleRequired,
    patients.services.StatusRoleRequired,
    patients.services.FastlegeRoleRequired,
    patients.access.NurseRequired,  # the one «the patient's nurse only»: the plan's drafts and triage's steps
    ebp.access.OwnGpRequired,
    billing.services.PriceModelAdminRequired,
]


@pytest.mark.parametrize("kind", REFUSALS, ids=lambda kind: f"{kind.__module__}.{kind.__name__}")
def test_every_refusal_of_the_step_as_asked_is_a_refused(kind):
    assert issubclass(kind, Refused) and not issubclass(kind, PermissionDenied)


@pytest.mark.parametrize("kind", NOT_ALLOWED, ids=lambda kind: f"{kind.__module__}.{kind.__name__}")
def test_every_missing_right_is_not_allowed_and_djangos_403(kind):
    assert issubclass(kind, NotAllowed) and issubclass(kind, PermissionDenied) and not issubclass(kind, Refused)


def test_the_handler_answers_refused_400_and_not_allowed_403_with_the_message(db):
    context = {"view": APIView(), "request": None}
    refused = exception_handler(patients.services.moves.MoveRefused("Flyttingen er alt besvart."), context)
    assert (refused.status_code, refused.data) == (400, {"detail": "Flyttingen er alt besvart."})
    denied = exception_handler(ebp.access.OwnGpRequired("Bare pasientens egen fastlege."), context)
    assert (denied.status_code, denied.data) == (403, {"detail": "Bare pasientens egen fastlege."})
    stale = exception_handler(triage.services.AlertChanged("Varselet er endret siden du åpnet det."), context)
    assert (stale.status_code, stale.data) == (409, {"detail": "Varselet er endret siden du åpnet det."})


def test_through_the_api_a_refused_step_is_400_and_a_missing_right_403(world, api):
    patient, base = world.p.gjerdrum, f"/api/v1/patients/{world.p.gjerdrum.pk}/plan/"
    nurse = api(world.u.nurse)
    assert nurse.post(f"{base}draft/", {"content": OLAV_LIKE}, format="json").status_code == 201
    assert nurse.post(f"{base}submit/", {}, format="json").status_code == 200
    # The nurse may draft, but a version waits for the fastlege: the step as asked is refused.
    again = nurse.post(f"{base}draft/", {"content": OLAV_LIKE}, format="json")
    assert again.status_code == 400 and again.json() == {"detail": again.json()["detail"]}
    assert "fullfør den" in again.json()["detail"]
    # The nurse may not approve at all.
    approve = nurse.post(f"{base}approve/", {}, format="json")
    assert approve.status_code == 403 and "egen fastlege" in approve.json()["detail"]
    assert ebp.selectors.active_version(patient) is None


def test_the_schema_documents_the_refusals_once_in_the_error_body(world, api):
    schema = api(world.u.coordinator).get("/api/schema/?format=json").json()
    step = schema["paths"]["/api/v1/patients/{patient_id}/plan/approve/"]["post"]["responses"]
    error = {"$ref": "#/components/schemas/Error"}
    assert step["400"]["content"]["application/json"]["schema"] == error
    assert step["403"]["content"]["application/json"]["schema"] == error
    assert "steget kan ikke tas" in step["400"]["description"]
    assert schema["components"]["schemas"]["Error"]["properties"] == {"detail": {"type": "string"}}
