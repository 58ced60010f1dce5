from django.urls import path

from triage import views

app_name = "triage"
urlpatterns = [
    path("worklist/", views.WorklistView.as_view(), name="worklist"),
    path("worklist/alerts/<uuid:alert_id>/take/", views.AlertTakeView.as_view(), name="alert-take"),
    path("worklist/alerts/<uuid:alert_id>/release/", views.AlertReleaseView.as_view(), name="alert-release"),
    path("worklist/alerts/<uuid:alert_id>/handle/", views.AlertHandleView.as_view(), name="alert-handle"),
    path("followup/", views.FollowUpView.as_view(), name="follow-up"),
    path("patients/<uuid:patient_id>/contacts/", views.ContactCreateView.as_view(), name="contact-create"),
    path("patients/<uuid:patient_id>/trends/<slug:mtype>/", views.TrendNumbersView.as_view(), name="trend-numbers"),
]
