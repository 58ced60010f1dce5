from django.urls import path

from patients.api import equipment, forlop, record

urlpatterns = [
    path("patients/", record.PatientListAPI.as_view(), name="api-patient-list"),
    path("patients/<uuid:patient_id>/", record.PatientDetailAPI.as_view(), name="api-patient-detail"),
    path("patients/<uuid:patient_id>/gp/", record.PatientGpAPI.as_view(), name="api-patient-gp"),
    path(
        "patients/<uuid:patient_id>/contact-info/", record.PatientContactAPI.as_view(), name="api-patient-contact-info"
    ),
    path("patients/<uuid:patient_id>/pause/", forlop.PauseAPI.as_view(), name="api-patient-pause"),
    path("patients/<uuid:patient_id>/resume/", forlop.ResumeAPI.as_view(), name="api-patient-resume"),
    path("patients/<uuid:patient_id>/start/", forlop.StartAPI.as_view(), name="api-patient-start"),
    path("patients/<uuid:patient_id>/end/", forlop.EndAPI.as_view(), name="api-patient-end"),
    path("patients/<uuid:patient_id>/evaluation/", forlop.EvaluationAPI.as_view(), name="api-patient-evaluation"),
    path("patients/<uuid:patient_id>/history/", forlop.HistoryAPI.as_view(), name="api-patient-history"),
    path("patients/<uuid:patient_id>/consent/", forlop.ConsentAPI.as_view(), name="api-patient-consent"),
    path("patients/<uuid:patient_id>/access-log/", record.AccessLogAPI.as_view(), name="api-patient-access-log"),
    path("patients/<uuid:patient_id>/moves/", forlop.PatientMoveAPI.as_view(), name="api-patient-moves"),
    path("move-notices/", forlop.MoveNoticeListAPI.as_view(), name="api-move-notices"),
    path("referrals/", forlop.ReferralListAPI.as_view(), name="api-referral-list"),
    path("referrals/<uuid:referral_id>/", forlop.ReferralDetailAPI.as_view(), name="api-referral-detail"),
    path("referrals/<uuid:referral_id>/assessment/", forlop.AssessmentAPI.as_view(), name="api-referral-assessment"),
    path("referrals/<uuid:referral_id>/decision/", forlop.DecisionAPI.as_view(), name="api-referral-decision"),
    path("referrals/<uuid:referral_id>/appeal/", forlop.AppealAPI.as_view(), name="api-referral-appeal"),
    path(
        "referrals/<uuid:referral_id>/appeal/decide/",
        forlop.AppealDecideAPI.as_view(),
        name="api-referral-appeal-decide",
    ),
    path("patients/<uuid:patient_id>/loans/", equipment.PatientLoansAPI.as_view(), name="api-patient-loans"),
    path("devices/", equipment.DeviceListAPI.as_view(), name="api-device-list"),
    path("devices/import/", equipment.DeviceImportAPI.as_view(), name="api-device-import"),
    path("kits/", equipment.KitListAPI.as_view(), name="api-kit-list"),
    path("devices/<str:serial>/return/", equipment.DeviceReturnAPI.as_view(), name="api-device-return"),
    path("devices/<str:serial>/clean/", equipment.DeviceCleanAPI.as_view(), name="api-device-clean"),
    path("devices/<str:serial>/discard/", equipment.DeviceDiscardAPI.as_view(), name="api-device-discard"),
]
