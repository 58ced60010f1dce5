from django.urls import path

from patients import api

urlpatterns = [
    path("patients/", api.PatientListAPI.as_view(), name="api-patient-list"),
    path("patients/<uuid:patient_id>/", api.PatientDetailAPI.as_view(), name="api-patient-detail"),
    path("patients/<uuid:patient_id>/gp/", api.PatientGpAPI.as_view(), name="api-patient-gp"),
    path("patients/<uuid:patient_id>/contact-info/", api.PatientContactAPI.as_view(), name="api-patient-contact-info"),
    path("patients/<uuid:patient_id>/pause/", api.PauseAPI.as_view(), name="api-patient-pause"),
    path("patients/<uuid:patient_id>/resume/", api.ResumeAPI.as_view(), name="api-patient-resume"),
    path("patients/<uuid:patient_id>/start/", api.StartAPI.as_view(), name="api-patient-start"),
    path("patients/<uuid:patient_id>/end/", api.EndAPI.as_view(), name="api-patient-end"),
    path("patients/<uuid:patient_id>/history/", api.HistoryAPI.as_view(), name="api-patient-history"),
    path("patients/<uuid:patient_id>/consent/", api.ConsentAPI.as_view(), name="api-patient-consent"),
    path("patients/<uuid:patient_id>/access-log/", api.AccessLogAPI.as_view(), name="api-patient-access-log"),
    path("patients/<uuid:patient_id>/moves/", api.PatientMoveAPI.as_view(), name="api-patient-moves"),
    path("move-notices/", api.MoveNoticeListAPI.as_view(), name="api-move-notices"),
    path("referrals/", api.ReferralListAPI.as_view(), name="api-referral-list"),
    path("referrals/<uuid:referral_id>/", api.ReferralDetailAPI.as_view(), name="api-referral-detail"),
    path("referrals/<uuid:referral_id>/assessment/", api.AssessmentAPI.as_view(), name="api-referral-assessment"),
    path("referrals/<uuid:referral_id>/decision/", api.DecisionAPI.as_view(), name="api-referral-decision"),
    path("referrals/<uuid:referral_id>/appeal/", api.AppealAPI.as_view(), name="api-referral-appeal"),
    path(
        "referrals/<uuid:referral_id>/appeal/decide/", api.AppealDecideAPI.as_view(), name="api-referral-appeal-decide"
    ),
    path("patients/<uuid:patient_id>/loans/", api.PatientLoansAPI.as_view(), name="api-patient-loans"),
    path("devices/", api.DeviceListAPI.as_view(), name="api-device-list"),
    path("devices/import/", api.DeviceImportAPI.as_view(), name="api-device-import"),
    path("kits/", api.KitListAPI.as_view(), name="api-kit-list"),
    path("devices/<str:serial>/return/", api.DeviceReturnAPI.as_view(), name="api-device-return"),
    path("devices/<str:serial>/clean/", api.DeviceCleanAPI.as_view(), name="api-device-clean"),
    path("devices/<str:serial>/discard/", api.DeviceDiscardAPI.as_view(), name="api-device-discard"),
]
