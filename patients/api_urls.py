from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token

from patients import api

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("patients/", api.PatientListAPI.as_view(), name="api-patient-list"),
    path("patients/<uuid:patient_id>/", api.PatientDetailAPI.as_view(), name="api-patient-detail"),
]
