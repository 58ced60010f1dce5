"""The API's answer to an address that matches no route: JSON like every other API error, not the
pages' HTML. (A malformed id, `/api/v1/patients/not-a-uuid/`, matches no route.) Under the FHIR base
an OperationOutcome, as a FHIR client reads errors (a resource type this server does not have)."""

from django.http import JsonResponse
from django.views.defaults import page_not_found

from measurements.fhir import error_outcome

FHIR_BASE = "/api/v1/fhir/"
FHIR_NOT_FOUND = (
    "Ukjent FHIR-adresse. Serveren har metadata, Observation (create, read) og Bundle (batch, transaction)."
)


def not_found(request, exception=None):
    if request.path.startswith(FHIR_BASE):
        outcome = error_outcome(FHIR_NOT_FOUND, http_status=404)
        return JsonResponse(outcome, status=404, content_type="application/fhir+json; charset=utf-8")
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Ikke funnet."}, status=404)
    return page_not_found(request, exception)
