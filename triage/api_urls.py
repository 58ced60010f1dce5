from django.urls import path

from triage import api

urlpatterns = [
    path("alerts/", api.AlertListAPI.as_view(), name="api-alerts"),
]
