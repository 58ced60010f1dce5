from django.urls import path

from insight import api

urlpatterns = [
    path("insight/", api.InsightAPI.as_view(), name="insight"),
]
