from django.urls import path

from triage import api

urlpatterns = [
    path("alerts/", api.AlertListAPI.as_view(), name="api-alerts"),
    path("alerts/<uuid:alert_id>/take/", api.AlertTakeAPI.as_view(), name="api-alert-take"),
    path("alerts/<uuid:alert_id>/handle/", api.AlertHandleAPI.as_view(), name="api-alert-handle"),
]
