from django.urls import path

from patients.views import equipment, forlop, record

app_name = "patients"
urlpatterns = [
    path("patients/", record.PatientListView.as_view(), name="list"),
    path("patients/<uuid:patient_id>/", record.PatientDetailView.as_view(), name="detail"),
    path("patients/<uuid:patient_id>/fastlege/", record.PatientGpView.as_view(), name="gp"),
    path("patients/<uuid:patient_id>/kontakt/", record.PatientContactView.as_view(), name="contact-info"),
    path("patients/<uuid:patient_id>/samtykke/", forlop.ConsentView.as_view(), name="consent"),
    path("patients/<uuid:patient_id>/oppstart/", forlop.StartView.as_view(), name="start"),
    path("patients/<uuid:patient_id>/pause/", forlop.PauseView.as_view(), name="pause"),
    path("patients/<uuid:patient_id>/gjenoppta/", forlop.ResumeView.as_view(), name="resume"),
    path("patients/<uuid:patient_id>/avslutt/", forlop.EndView.as_view(), name="end"),
    path("patients/<uuid:patient_id>/evaluering/", forlop.EvaluationView.as_view(), name="evaluation"),
    path("patients/<uuid:patient_id>/flytting/", forlop.MoveView.as_view(), name="move"),
    path("patients/<uuid:patient_id>/innsyn/", record.AccessLogView.as_view(), name="access-log"),
    path("patients/<uuid:patient_id>/innsyn/pdf/", record.AccessLogPdfView.as_view(), name="access-log-pdf"),
    path(
        "patients/<uuid:patient_id>/innsyn/pdf/fil/", record.AccessLogPdfFileView.as_view(), name="access-log-pdf-file"
    ),
    path("patients/referrals/<uuid:referral_id>/vedtak.pdf", forlop.VedtakPdfView.as_view(), name="vedtak-pdf"),
    # the forløp: the board, the henvisning and its steps before oppstart
    path("forlop/", forlop.BoardView.as_view(), name="board"),
    path("forlop/ny/", forlop.ReferralCreateView.as_view(), name="referral-new"),
    path("forlop/<uuid:referral_id>/", forlop.ReferralDetailView.as_view(), name="referral"),
    path("forlop/<uuid:referral_id>/vurdering/", forlop.AssessmentView.as_view(), name="assessment"),
    path("forlop/<uuid:referral_id>/vedtak/", forlop.DecisionView.as_view(), name="decision"),
    path("forlop/<uuid:referral_id>/klage/", forlop.AppealView.as_view(), name="appeal"),
    path("forlop/<uuid:referral_id>/klage/utfall/", forlop.AppealOutcomeView.as_view(), name="appeal-outcome"),
    # the centre's equipment
    path("utstyr/", equipment.EquipmentView.as_view(), name="equipment"),
    path("utstyr/import/", equipment.DeviceImportView.as_view(), name="equipment-import"),
    path("utstyr/sett/", equipment.KitCreateView.as_view(), name="equipment-kit"),
    path("utstyr/<str:serial>/retur/", equipment.DeviceReturnView.as_view(), name="device-return"),
    path("utstyr/<str:serial>/rengjort/", equipment.DeviceCleanView.as_view(), name="device-clean"),
]
