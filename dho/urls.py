from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from dho.health import healthz
from patients.views import HomeView

api_v1 = [
    path("", include("patients.api_urls")),
    path("", include("ebp.api_urls")),
    path("", include("measurements.api_urls")),
    path("", include("triage.api_urls")),
    path("", include("billing.api_urls")),
]

urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("patients.urls")),  # patients/, forlop/, utstyr/
    path("", include("ebp.urls")),
    path("", include("triage.urls")),
    path("billing/", include("billing.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
]

admin.site.site_header = "DHO – administrasjon"
admin.site.site_title = "DHO"
