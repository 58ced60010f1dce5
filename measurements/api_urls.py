from django.urls import path

from measurements import api

urlpatterns = [
    path("readings", api.ReadingsAPI.as_view(), name="api-readings"),
    path("answers", api.AnswersAPI.as_view(), name="api-answers"),
    path("fhir/Observation", api.FhirObservationAPI.as_view(), name="api-fhir-observation"),
    path("fhir", api.FhirBundleAPI.as_view(), name="api-fhir-bundle"),
]
