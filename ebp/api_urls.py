from django.urls import path

from ebp import api

urlpatterns = [
    path("patients/<uuid:patient_id>/plan/", api.ActivePlanAPI.as_view(), name="api-plan"),
    path("patients/<uuid:patient_id>/plan/versions/", api.PlanVersionsAPI.as_view(), name="api-plan-versions"),
    path("patients/<uuid:patient_id>/plan/draft/", api.DraftAPI.as_view(), name="api-plan-draft"),
    path("patients/<uuid:patient_id>/plan/submit/", api.SubmitAPI.as_view(), name="api-plan-submit"),
    path("patients/<uuid:patient_id>/plan/approve/", api.ApproveAPI.as_view(), name="api-plan-approve"),
    path("patients/<uuid:patient_id>/plan/return/", api.ReturnAPI.as_view(), name="api-plan-return"),
]
