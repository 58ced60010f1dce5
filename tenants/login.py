"""Login that resists guessing, and the gate of the second factor.

**Lock-out (django-axes).** `AXES_FAILURE_LIMIT` wrong passwords (DHO_LOGIN_FAILURE_LIMIT, 5) lock
that username, and, counted separately, that client address (`AXES_LOCKOUT_PARAMETERS`), for
`AXES_COOLOFF_TIME` (DHO_LOGIN_LOCKOUT_MINUTES, 30). While locked, every attempt is refused, the
right password included, and restarts the lock. It covers every view that calls
`django.contrib.auth.authenticate(request=…)` (axes' AxesStandaloneBackend is the first backend):
`/login/`, the admin's login and `POST /api/v1/auth/token/`. The address is
`dho.middleware.client_ip` (X-Forwarded-For only from our own proxies). A success does not clear the
failures: one account the attacker owns would otherwise reset the count of their whole address.
The answer is `lockout_response`: a Norwegian page, or JSON for the API, with status 429. A centre
admin opens a lock early in the admin («Sperrede innlogginger», tenants/admin.py).

**The second factor's gate.** `TwoFactorMiddleware` lets a password-only session reach nothing but
the login pages until it has passed `/login/verify/` (tenants/two_factor.py, where the HelseID seam
is described too).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.db.models import Q, QuerySet
from django.dispatch import receiver
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils.translation import gettext as _

from tenants import two_factor
from tenants.models import Membership
from tenants.selectors import admin_centres, centre_served_municipalities

# What a session that has only given its password may reach.
OPEN_BEFORE_SECOND_FACTOR = frozenset({"login", "logout", "two-factor-verify", "two-factor-setup", "healthz"})


def _is_api(request) -> bool:
    return request.path_info.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def _lockout_minutes() -> int:
    cooloff = settings.AXES_COOLOFF_TIME
    return max(1, round(cooloff.total_seconds() / 60)) if cooloff else 0


def lockout_message() -> str:
    return _(
        "Innloggingen er sperret etter for mange feil passord for denne brukeren eller fra denne "
        "maskinen. Prøv igjen om {minutes} minutter, eller be administratoren ved oppfølgingssenteret "
        "ditt om å oppheve sperren."
    ).format(minutes=_lockout_minutes())


def attempted_username(request, credentials=None) -> str:
    """The username a login attempt gave, as axes records it: cut to the username field's length
    (axes keeps it in a varchar(255); a 300-character guess must be a failed login, not a 500)."""
    given = (credentials or {}).get("username") or (request.POST.get("username", "") if request else "")
    return str(given)[: get_user_model()._meta.get_field("username").max_length]


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: what a locked-out login gets instead of the login's own answer."""
    message = lockout_message()
    if _is_api(request):
        response = JsonResponse({"detail": message}, status=429)
    else:
        context = {"message": message, "minutes": _lockout_minutes()}
        response = render(request, "tenants/locked_out.html", context, status=429)
    if settings.AXES_COOLOFF_TIME:
        response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


@receiver(user_logged_in, dispatch_uid="tenants.login.logged_in")
def _logged_in(sender, request, user, **kwargs):
    if not two_factor.required():
        two_factor.notices_show(request, user)  # no second step: this login is complete already


class TwoFactorMiddleware:
    """Outside debug mode, a session that has given only its password is sent to the second factor
    (the app's code, or setting the app up) before any other page; the API by such a session is a
    403. Token-authenticated API calls carry no session and are not this middleware's business (the
    token endpoint asks for the code itself). After django_otp's OTPMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            two_factor.required()
            and request.user.is_authenticated
            and not two_factor.session_is_verified(request)
            and not self._open(request)
        ):
            return self._second_factor_first(request)
        return self.get_response(request)

    @staticmethod
    def _open(request) -> bool:
        try:
            return resolve(request.path_info).url_name in OPEN_BEFORE_SECOND_FACTOR
        except Resolver404:
            return True  # a 404 shows nothing

    @staticmethod
    def _second_factor_first(request) -> HttpResponse:
        if _is_api(request):
            detail = _("Tofaktorinnlogging kreves: fullfør innloggingen med koden fra autentiseringsappen.")
            return JsonResponse({"detail": detail}, status=403)
        step = "two-factor-verify" if two_factor.has_app(request.user) else "two-factor-setup"
        url = f"{reverse(step)}?{urlencode({'next': request.get_full_path()})}"
        if request.headers.get("HX-Request") == "true":
            response = HttpResponse(status=200)
            response["HX-Redirect"] = url
            return response
        return redirect(url)


def accounts_managed_by(user) -> QuerySet:
    """The users whose lock-out and second factor a centre admin may reset: everyone with a role at
    the admin's centres or in a municipality they serve (the same people as their API tokens, see
    tenants.tokens.admin_tokens), never a superuser. A superuser manages everyone."""
    users = get_user_model().objects.all()
    if user.is_superuser:
        return users
    centres = list(admin_centres(user).values_list("pk", flat=True))
    if not centres:
        return users.none()
    municipality_ids: set[int] = set()
    for centre_id in centres:
        municipality_ids |= centre_served_municipalities(centre_id)
    members = Membership.objects.filter(Q(centre_id__in=centres) | Q(municipality_id__in=municipality_ids))
    return users.filter(pk__in=members.values("user_id"), is_superuser=False)
