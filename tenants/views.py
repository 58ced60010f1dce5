"""Login pages: the password (Django's LoginView, which says why the last session ended), the second
factor (verify, set up, backup codes), and the session's keep-alive and status that the warning
before the end uses (static/js/session-timeout.js). The rules are in tenants/two_factor.py,
tenants/sessions.py and tenants/login.py; these views only show them."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import get_user_model, login, user_login_failed
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache

from tenants import activation, helseid_login, organisations, sessions, two_factor
from tenants.forms import CodePasswordForm, LoginForm
from tenants.login import lockout_response, password_login_refusal
from tenants.models import AuditAction
from tenants.services import audit_record


def _next_url(request) -> str:
    return safe_next(request, request.POST.get("next") or request.GET.get("next") or "")


def safe_next(request, target: str) -> str:
    """`target` when it is a page of this site, else where a login lands."""
    hosts = {request.get_host()}
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts=hosts, require_https=request.is_secure())
    return target if safe else resolve_url(settings.LOGIN_REDIRECT_URL)


def _with_next(name: str, request) -> str:
    return f"{reverse(name)}?{urlencode({'next': _next_url(request)})}"


class LoginView(auth_views.LoginView):
    form_class = LoginForm  # the second factor beside the password while under attack
    redirect_authenticated_user = True

    def get_redirect_url(self):
        # ?next=/login/ for a logged-in user would be Django's «redirection loop» error: go home instead.
        url = super().get_redirect_url()
        return "" if url and urlsplit(url).path == self.request.path else url

    def get(self, request, *args, **kwargs):
        # Read, not popped: the live refresh and the warning's script may both bring the browser here
        # at the end of a session; each load says why. The next login clears it (sessions._stamp_login).
        self.ended = request.session.get(sessions.ENDED_REASON)
        self.form_lost = bool(request.session.get(sessions.FORM_LOST))
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["session_ended"] = self._ended_message(getattr(self, "ended", None))
        context["form_lost"] = getattr(self, "form_lost", False)
        context["helseid"] = helseid_login.enabled()  # «Logg inn med HelseID» (tenants/views_helseid.py)
        return context

    def form_valid(self, form):
        response = super().form_valid(form)
        organisations.after_login(self.request)  # «Velg virksomhet» next, for a user with several
        return response

    @staticmethod
    def _ended_message(reason: str | None) -> str:
        if reason == "idle":
            minutes = sessions.idle_seconds() // 60
            return _("Du ble logget ut fordi du ikke hadde gjort noe på {minutes} minutter.").format(minutes=minutes)
        if reason == "absolute":
            hours = sessions.max_seconds() // 3600
            return _("Du ble logget ut fordi økten hadde vart i {hours} timer, det lengste en økt kan vare.").format(
                hours=hours
            )
        if reason == "expired":
            return _("Økten din var utløpt.")
        return ""


class _PasswordGiven(View):
    """The steps between the password and the second factor: only for a logged-in session that
    still lacks the second factor (anyone else goes to the login, or on to where they were going)."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not two_factor.required() or two_factor.session_is_verified(request):
            return redirect(_next_url(request))
        return super().dispatch(request, *args, **kwargs)


@method_decorator(never_cache, name="dispatch")
class TwoFactorVerifyView(_PasswordGiven):
    template_name = "tenants/two_factor_verify.html"

    def get(self, request):
        if not two_factor.has_app(request.user):
            return redirect(_with_next("two-factor-setup", request))
        return render(request, self.template_name, {"next": _next_url(request)})

    def post(self, request):
        if not two_factor.has_app(request.user):
            return redirect(_with_next("two-factor-setup", request))
        error = two_factor.verify(request, request.POST.get("code", ""))
        if error:
            return render(request, self.template_name, {"next": _next_url(request), "error": error})
        return redirect(_next_url(request))


@method_decorator(never_cache, name="dispatch")
class TwoFactorSetupView(_PasswordGiven):
    """First login without an app: the activation code from the admin, then scan the QR code,
    confirm with the first code, keep the backup codes."""

    template_name = "tenants/two_factor_setup.html"

    def get(self, request):
        if two_factor.has_app(request.user):
            return redirect(_with_next("two-factor-verify", request))
        if not two_factor.activated(request):
            return self._activation_form(request)
        return self._form(request, two_factor.setup_device(request.user))

    def post(self, request):
        if two_factor.has_app(request.user):
            return redirect(_with_next("two-factor-verify", request))
        if "activation_code" in request.POST or not two_factor.activated(request):
            return self._activate(request)
        device = two_factor.setup_device(request.user)
        codes, error = two_factor.setup_confirm(request=request, device=device, code=request.POST.get("code", ""))
        if codes is None:
            if not two_factor.activated(request):
                return self._activation_form(request, error)
            return self._form(request, device, error)
        context = {"codes": codes, "next": _next_url(request), "first": True}
        return render(request, "tenants/backup_codes.html", context)

    def _activate(self, request):
        """The activation code: a wrong, used or expired one counts as a failed login (and a
        (username, address) pair that must wait is refused before the code is looked at)."""
        credentials = {"username": request.user.get_username()}
        if not AxesProxyHandler.is_allowed(request, credentials):  # the same check as a password's
            return lockout_response(request, credentials=credentials)
        error = two_factor.activation_give(request, request.POST.get("activation_code", ""))
        if error:
            return self._activation_form(request, error)
        return redirect(_with_next("two-factor-setup", request))

    def _activation_form(self, request, error: str = ""):
        context = {"activation": True, "next": _next_url(request), "error": error}
        return render(request, self.template_name, context)

    def _form(self, request, device, error: str = ""):
        context = {
            "qr_svg": two_factor.qr_svg(device),
            "secret": two_factor.secret_text(device),
            "next": _next_url(request),
            "error": error,
        }
        return render(request, self.template_name, context)


@method_decorator(never_cache, name="dispatch")
class BackupCodesView(View):
    """How many backup codes are left, and new ones (shown once; the old ones stop working).
    Behind the second factor like every page (TwoFactorMiddleware)."""

    template_name = "tenants/backup_codes.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return self._page(request)

    def post(self, request):
        if not two_factor.has_app(request.user):
            return redirect("two-factor-backup-codes")
        # New codes are a second factor that outlasts this session: a fresh proof first, as for an API
        # key (an unlocked screen left for a minute must not hand someone a way in for later).
        refusal = two_factor.reauthentication_refusal(request, request.POST.get("otp"))
        if refusal:
            return self._page(request, otp_error=refusal, status=400)
        codes = two_factor.backup_codes_create(user=request.user)
        audit_record(action=AuditAction.CREATE, object_type="backup_codes", object_id=request.user.pk,
                     request=request, user=request.user)  # fmt: skip
        return render(request, self.template_name, {"has_app": True, "codes": codes, "next": reverse("home")})

    def _page(self, request, otp_error: str = "", status: int = 200):
        context = {
            "has_app": two_factor.has_app(request.user),
            "left": two_factor.backup_codes_left(request.user),
            "otp_required": two_factor.required() and not two_factor.strong_login_recent(request.session),
            "otp_error": otp_error,
        }
        return render(request, self.template_name, context, status=status)


def _status(request) -> dict:
    found = sessions.limits(request.session) if request.user.is_authenticated else None
    if found is None:
        return {"authenticated": False, "login_url": reverse("login")}
    return found.as_json(time.time())


@method_decorator(never_cache, name="dispatch")
class SessionKeepAliveView(View):
    """«Fortsett innlogget»: a user action like any other POST, recorded now (not throttled)."""

    def post(self, request):
        if request.user.is_authenticated:
            sessions.touch(request.session, force=True)
        if "application/json" in request.headers.get("Accept", ""):
            return JsonResponse(_status(request))
        return redirect(_next_url(request))


@method_decorator(never_cache, name="dispatch")
class SessionStatusView(View):
    """When this session ends, for the warning; asking is not a user action (sessions.is_user_action)."""

    def get(self, request):
        return JsonResponse(_status(request))


@method_decorator(never_cache, name="dispatch")
class CodePasswordView(View):
    """«Glemt passord?» and a new user's first login: the username, the code the centre admin issued
    and a new password (tenants/activation.py). A wrong code counts as a failed login for that
    username and address (tenants/lockout.py), and a (username, address) pair that must wait is
    refused before the code is looked at. Afterwards the user is logged in with the new password and
    goes on to the second factor: a new user sets up the app with the same code, already given."""

    template_name = "registration/code_password.html"

    def get(self, request):
        return render(request, self.template_name, {"form": CodePasswordForm(user_for=_user_named)})

    def post(self, request):
        username = str(request.POST.get("username", ""))[:150]
        credentials = {"username": username}
        if not AxesProxyHandler.is_allowed(request, credentials):
            return lockout_response(request, credentials=credentials)
        form = CodePasswordForm(request.POST, user_for=_user_named)
        if not form.is_valid():
            if form.code_refused:
                user_login_failed.send(sender=__name__, credentials=credentials, request=request)
            return render(request, self.template_name, {"form": form})
        code = form.code
        if not activation.password_set_with_code(code=code, password=form.cleaned_data["new_password1"],
                                                 request=request):  # fmt: skip
            form.add_error(None, _("Koden ble brukt i et annet vindu. Be administratoren om en ny."))
            return render(request, self.template_name, {"form": form})
        refusal = password_login_refusal(code.user)
        if refusal:  # the password is set, but this centre's people log in through HelseID only
            form.add_error(None, refusal)
            return render(request, self.template_name, {"form": form})
        login(request, code.user, backend="tenants.login.LoginBackend")
        organisations.after_login(request)
        if not two_factor.has_app(code.user):
            two_factor.activation_remember(request.session, code)  # the setup asks for it no more
            return redirect("two-factor-setup")
        return redirect("two-factor-verify")


def _user_named(username: str):
    return get_user_model().objects.filter(username=username).first()
