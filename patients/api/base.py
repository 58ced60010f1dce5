"""The base of every API view under /patients/{patient_id}/ (other apps subclass it)."""

from rest_framework.views import APIView

from patients.models import (
    Patient,
)
from patients.selectors import (
    get_patient_for,
)


class PatientScopedAPIView(APIView):
    """Base for every API view under /patients/{patient_id}/: binds the patient once, after
    authentication and before the handler, so a foreign or missing patient is a 404 for every method."""

    patient: Patient

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.patient = get_patient_for(request.user, kwargs["patient_id"])
