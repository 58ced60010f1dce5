from django.urls import path

from ebp import views

app_name = "ebp"
urlpatterns = [
    path("patients/<uuid:patient_id>/plan/", views.PlanView.as_view(), name="plan"),
    path("patients/<uuid:patient_id>/plan.pdf", views.PlanPdfView.as_view(), name="pdf"),
    path("patients/<uuid:patient_id>/plan/draft/", views.DraftView.as_view(), name="draft"),
    path("patients/<uuid:patient_id>/plan/draft/start/", views.DraftStartView.as_view(), name="draft-start"),
    path("patients/<uuid:patient_id>/plan/versions/<int:number>/", views.VersionView.as_view(), name="version"),
    path(
        "patients/<uuid:patient_id>/plan/versions/<int:number>/decision/",
        views.DecisionView.as_view(),
        name="decision",
    ),
    path("approvals/", views.ApprovalQueueView.as_view(), name="approvals"),
]
