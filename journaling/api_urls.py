from django.urls import path

from journaling import api

urlpatterns = [
    path(
        "patients/<uuid:patient_id>/journal-deliveries/",
        api.PatientDeliveriesAPI.as_view(),
        name="api-patient-journal-deliveries",
    ),
    path("journal-deliveries/<int:delivery_id>/", api.DeliveryAPI.as_view(), name="api-journal-delivery"),
    path(
        "journal-deliveries/<int:delivery_id>/resend/",
        api.DeliveryResendAPI.as_view(),
        name="api-journal-delivery-resend",
    ),
]
