from django.urls import path

from triage import api

urlpatterns = [
    path("alerts/", api.AlertListAPI.as_view(), name="api-alerts"),
    path("patients/<uuid:patient_id>/evaluation/", api.EvaluationAPI.as_view(), name="api-patient-evaluation"),
]
