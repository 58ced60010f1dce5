from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from dho.health import healthz
from dho.views import HomeView
from tenants.views_helseid import LogoutView
from tenants.views_tokens import ApiTokensView

api_v1 = [
    path("", include("tenants.api_urls")),  # auth/token/, auth/tokens/
    path("", include("patients.api_urls")),
    path("", include("ebp.api_urls")),
    path("", include("measurements.api_urls")),
    path("", include("triage.api_urls")),
    path("", include("billing.api_urls")),
    path("", include("insight.api_urls")),
    path("", include("insight.gevinst.api_urls")),  # the patients' service use and survey, the gevinst report
    path("", include("journaling.api_urls")),
]

urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("", include("tenants.urls")),  # login/, its second factor, the session's keep-alive
    path("logout/", LogoutView.as_view(), name="logout"),  # after HelseID: its end_session_endpoint too
    path("api-nokler/", ApiTokensView.as_view(), name="api-tokens"),
    path("", include("patients.urls")),  # patients/, forlop/, utstyr/
    path("", include("ebp.urls")),
    path("", include("triage.urls")),
    path("billing/", include("billing.urls")),
    path("journalforing/", include("journaling.urls")),
    path("innsikt/", include("insight.urls")),  # the figures, their CSV and XLSX
    path("", include("insight.gevinst.urls")),  # patients/<id>/gevinst/…, innsikt/gevinst/…
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
]

handler404 = "dho.api_errors.not_found"  # JSON under /api/, the page elsewhere

admin.site.site_header = "DHO – administrasjon"
admin.site.site_title = "DHO"
