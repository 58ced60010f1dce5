"""The Innsikt page and its files (dho/urls.py includes them under /innsikt/; the gevinst's pages
are insight.gevinst.urls, under /innsikt/gevinst/). A section's CSV is a route of its own
(/innsikt/kapasitet.csv …), not a URL argument: nothing in these addresses names an object."""

from django.urls import path

from insight import views
from insight.presentation import SECTION_SLUGS

app_name = "insight"
urlpatterns = [
    path("", views.InsightHomeView.as_view(), name="home"),
    path("innsikt.xlsx", views.InsightXlsxView.as_view(), name="xlsx"),
    *(
        path(f"{slug}.csv", views.SectionCsvView.as_view(), {"section": name}, name=f"csv-{slug}")
        for name, slug in SECTION_SLUGS.items()
    ),
]
