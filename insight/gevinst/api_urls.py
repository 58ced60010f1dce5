from django.urls import path

from insight.gevinst import api

urlpatterns = [
    path("patients/<uuid:patient_id>/service-use/", api.ServiceUseAPI.as_view(), name="patient-service-use"),
    path("patients/<uuid:patient_id>/survey/", api.SurveyAPI.as_view(), name="patient-survey"),
    path("insight/gevinst/", api.GevinstAPI.as_view(), name="insight-gevinst"),
]
