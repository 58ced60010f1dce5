from django.urls import path

from measurements import api

urlpatterns = [
    path("readings", api.ReadingsAPI.as_view(), name="api-readings"),
    path("answers", api.AnswersAPI.as_view(), name="api-answers"),
    path("fhir/metadata", api.FhirMetadataAPI.as_view(), name="api-fhir-metadata"),
    path("fhir/Observation", api.FhirObservationAPI.as_view(), name="api-fhir-observation"),
    path(
        "fhir/Observation/<str:observation_id>", api.FhirObservationReadAPI.as_view(), name="api-fhir-observation-read"
    ),
    # vread: where a create's Location points (FHIR's [base]/[type]/[id]/_history/[vid])
    path(
        "fhir/Observation/<str:observation_id>/_history/<str:version_id>",
        api.FhirObservationReadAPI.as_view(),
        name="api-fhir-observation-vread",
    ),
    # FHIR's base is "[base]" and clients write it with a slash or without (fhirclient posts a
    # transaction to "[base]/"): both are the Bundle endpoint.
    path("fhir", api.FhirBundleAPI.as_view(), name="api-fhir-bundle"),
    path("fhir/", api.FhirBundleSlashAPI.as_view(), name="api-fhir-bundle-slash"),
]
