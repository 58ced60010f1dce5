"""Login (password and code, or HelseID), the organisation a session acts for, the second factor
and the session's limits (tenants/views.py, tenants/views_helseid.py)."""

from django.urls import path

from tenants import views, views_helseid

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("login/code/", views.CodePasswordView.as_view(), name="login-code"),
    path("innlogging/helseid/", views_helseid.HelseIdStartView.as_view(), name="helseid-start"),
    path("innlogging/helseid/callback/", views_helseid.HelseIdCallbackView.as_view(), name="helseid-callback"),
    path(
        "innlogging/helseid/backchannel-logout/",
        views_helseid.BackchannelLogoutView.as_view(),
        name="helseid-backchannel-logout",
    ),
    path("virksomhet/", views_helseid.OrganisationChooseView.as_view(), name="organisation-choose"),
    path("login/verify/", views.TwoFactorVerifyView.as_view(), name="two-factor-verify"),
    path("login/setup/", views.TwoFactorSetupView.as_view(), name="two-factor-setup"),
    path("account/backup-codes/", views.BackupCodesView.as_view(), name="two-factor-backup-codes"),
    path("session/keepalive/", views.SessionKeepAliveView.as_view(), name="session-keepalive"),
    path("session/status/", views.SessionStatusView.as_view(), name="session-status"),
]
