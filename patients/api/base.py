"""The base of every API view under /patients/{patient_id}/ (other apps subclass it)."""

from rest_framework.exceptions import PermissionDenied
from rest_framework.views import APIView

from patients.access import may
from patients.models import (
    Patient,
)
from patients.selectors import (
    get_patient_for,
)


class PatientScopedAPIView(APIView):
    """Base for every API view under /patients/{patient_id}/: binds the patient once, after
    authentication and before the handler, so a foreign or missing patient is a 404 for every method.
    An endpoint that is one of the patient's steps names it (`policy_step`, patients.access.ACTIONS) and is a
    403 with `not_allowed` for who sees the patient but may not take it — the pages' rule."""

    patient: Patient
    policy_step = ""
    not_allowed = ""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.patient = get_patient_for(request.user, kwargs["patient_id"])
        if self.policy_step and not may(request.user, self.policy_step, self.patient):
            raise PermissionDenied(self.not_allowed)
