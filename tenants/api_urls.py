from django.urls import path

from tenants import api

urlpatterns = [
    path("auth/token/", api.ObtainTokenAPI.as_view(), name="api-token"),
    path("auth/tokens/", api.TokenListAPI.as_view(), name="api-token-list"),
    path("auth/tokens/<str:token_key>/", api.TokenDetailAPI.as_view(), name="api-token-detail"),
    path("reference/populations/", api.PopulationListAPI.as_view(), name="api-reference-populations"),
    path("reference/staffing/", api.StaffingListAPI.as_view(), name="api-reference-staffing"),
]
