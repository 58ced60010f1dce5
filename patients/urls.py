from django.urls import path

from patients import views

app_name = "patients"
urlpatterns = [
    path("", views.PatientListView.as_view(), name="list"),
    path("<uuid:patient_id>/", views.PatientDetailView.as_view(), name="detail"),
    path("referrals/<uuid:referral_id>/vedtak.pdf", views.VedtakPdfView.as_view(), name="vedtak-pdf"),
]
