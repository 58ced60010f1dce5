from django.urls import path

from journaling import views

app_name = "journaling"
urlpatterns = [
    path("", views.JournalingHomeView.as_view(), name="home"),
    path("sendinger/<int:delivery_id>/send-pa-nytt/", views.DeliveryResendView.as_view(), name="delivery-resend"),
    path("<str:kommune>/", views.MunicipalityJournalingView.as_view(), name="municipality"),
]
