"""The gevinst's pages (dho/urls.py includes them at the root, beside the other apps'): the two
registrations on a patient, under the patient's own addresses, and the report, the comparison group
and the EPJ import under /innsikt/gevinst/."""

from django.urls import path

from insight.gevinst import views

app_name = "gevinst"
urlpatterns = [
    path(
        "patients/<uuid:patient_id>/gevinst/tjenestebruk/", views.ServiceUseRegisterView.as_view(), name="service-use"
    ),
    path("patients/<uuid:patient_id>/gevinst/brukerundersokelse/", views.SurveyRegisterView.as_view(), name="survey"),
    path("innsikt/gevinst/", views.GevinstReportView.as_view(), name="report"),
    path("innsikt/gevinst/rapport.pdf", views.GevinstPdfView.as_view(), name="report-pdf"),
    path("innsikt/gevinst/rapport.xlsx", views.GevinstXlsxView.as_view(), name="report-xlsx"),
    path("innsikt/gevinst/sammenligning/", views.ComparisonView.as_view(), name="comparison"),
    path("innsikt/gevinst/import/", views.ImportView.as_view(), name="import"),
]
