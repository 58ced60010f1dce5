from django.urls import path

from patients import views

app_name = "patients"
urlpatterns = [
    path("patients/", views.PatientListView.as_view(), name="list"),
    path("patients/<uuid:patient_id>/", views.PatientDetailView.as_view(), name="detail"),
    path("patients/<uuid:patient_id>/fastlege/", views.PatientGpView.as_view(), name="gp"),
    path("patients/<uuid:patient_id>/kontakt/", views.PatientContactView.as_view(), name="contact-info"),
    path("patients/<uuid:patient_id>/samtykke/", views.ConsentView.as_view(), name="consent"),
    path("patients/<uuid:patient_id>/oppstart/", views.StartView.as_view(), name="start"),
    path("patients/<uuid:patient_id>/pause/", views.PauseView.as_view(), name="pause"),
    path("patients/<uuid:patient_id>/gjenoppta/", views.ResumeView.as_view(), name="resume"),
    path("patients/<uuid:patient_id>/avslutt/", views.EndView.as_view(), name="end"),
    path("patients/<uuid:patient_id>/flytting/", views.MoveView.as_view(), name="move"),
    path("patients/<uuid:patient_id>/innsyn/", views.AccessLogView.as_view(), name="access-log"),
    path("patients/<uuid:patient_id>/innsyn.pdf", views.AccessLogPdfView.as_view(), name="access-log-pdf"),
    path("patients/referrals/<uuid:referral_id>/vedtak.pdf", views.VedtakPdfView.as_view(), name="vedtak-pdf"),
    # the forløp: the board, the henvisning and its steps before oppstart
    path("forlop/", views.BoardView.as_view(), name="board"),
    path("forlop/ny/", views.ReferralCreateView.as_view(), name="referral-new"),
    path("forlop/<uuid:referral_id>/", views.ReferralDetailView.as_view(), name="referral"),
    path("forlop/<uuid:referral_id>/vurdering/", views.AssessmentView.as_view(), name="assessment"),
    path("forlop/<uuid:referral_id>/vedtak/", views.DecisionView.as_view(), name="decision"),
    path("forlop/<uuid:referral_id>/klage/", views.AppealView.as_view(), name="appeal"),
    path("forlop/<uuid:referral_id>/klage/utfall/", views.AppealOutcomeView.as_view(), name="appeal-outcome"),
    # the centre's equipment
    path("utstyr/", views.EquipmentView.as_view(), name="equipment"),
    path("utstyr/import/", views.DeviceImportView.as_view(), name="equipment-import"),
    path("utstyr/sett/", views.KitCreateView.as_view(), name="equipment-kit"),
    path("utstyr/<str:serial>/retur/", views.DeviceReturnView.as_view(), name="device-return"),
    path("utstyr/<str:serial>/rengjort/", views.DeviceCleanView.as_view(), name="device-clean"),
]
