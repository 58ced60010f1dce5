"""Login that resists guessing without letting a guesser lock the user out, and the gate of the
second factor.

**Lock-out** (the policy is tenants/lockout.py; django-axes records the failures). Every view that
calls `django.contrib.auth.authenticate(request=…)` is covered: `/login/`, the admin's login and
`POST /api/v1/auth/token/`. Three backends in turn (settings.AUTHENTICATION_BACKENDS):

1. axes' AxesStandaloneBackend refuses a (username, address) pair that must still wait after its
   last failures (1, 2, 4 … s), before the password is checked; the answer is `lockout_response`
   (429, Retry-After, Norwegian);
2. `LoginBackend`: Django's password check, and while the username or the address is over its
   limit, the second factor given with it (`otp`: the app's code, a backup code, or before the app
   is set up the activation code; tenants/two_factor.py `login_factor`). Without it the password is
   not even checked and the try is not counted (`lockout.NOT_A_GUESS`); the form asks for the code
   (tenants/forms.py), the token endpoint says so in `otp`;
3. guardian's object permissions.

The address is `dho.middleware.client_ip` (X-Forwarded-For only from our own proxies). A centre
admin sees when a lock starts («Innloggingssperrer», tenants/admin.py) and may lift it.

**The second factor's gate.** `TwoFactorMiddleware` lets a password-only session reach nothing but
the login pages until it has passed `/login/verify/` (tenants/two_factor.py, where the HelseID seam
is described too).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.dispatch import receiver
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils.translation import gettext as _

from tenants import lockout, two_factor
from tenants.models import ActivationCode, Agreement, Centre, Membership
from tenants.selectors import admin_centres, centre_people, user_by_id

# What a session that has only given its password may reach.
OPEN_BEFORE_SECOND_FACTOR = frozenset({
    "login", "logout", "two-factor-verify", "two-factor-setup", "healthz", "helseid-start", "helseid-callback"
})  # fmt: skip
# Set on the request by LoginBackend: the lock that made this login need the second factor.
STEP_UP = "dho_step_up"


def _is_api(request) -> bool:
    return request.path_info.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def attempted_username(request, credentials=None) -> str:
    """The username a login attempt gave, as axes records it: cut to the username field's length
    (axes keeps it in a varchar(255); a 300-character guess must be a failed login, not a 500)."""
    given = (credentials or {}).get("username") or (request.POST.get("username", "") if request else "")
    return str(given)[: get_user_model()._meta.get_field("username").max_length]


def lockout_message(seconds: int) -> str:
    return _(
        "For mange feil innlogginger for denne brukeren fra denne maskinen på kort tid. Vent {wait} før du "
        "prøver igjen. Har du glemt passordet, kontakter du administratoren ved oppfølgingssenteret."
    ).format(wait=lockout.wait_text(seconds))


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE, and the activation step's answer: what a (username, address) pair that
    must still wait gets instead of the login's own answer. 429 with Retry-After."""
    seconds = max(1, lockout.pair_wait(request, attempted_username(request, credentials)))
    message = lockout_message(seconds)
    if _is_api(request):
        response = JsonResponse({"detail": message}, status=429)
    else:
        response = render(request, "tenants/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(seconds)
    return response


def step_up_message() -> str:
    return _(
        "Det har vært mange mislykkede innlogginger for denne brukeren eller fra dette nettverket. For å "
        "logge inn nå skriver du koden fra autentiseringsappen (eller en reservekode) sammen med passordet. "
        "Har du ikke satt opp appen ennå, skriver du aktiveringskoden du fikk av administratoren."
    )


def step_up_refused_message() -> str:
    return _("Feil brukernavn, passord eller kode. Sjekk alle tre og prøv igjen.")


class LoginBackend(ModelBackend):
    """Django's password check (and its permission checks); while the username or the address is
    under attack (tenants.lockout.step_up_lock), the second factor too, in `otp` beside the password.
    The right password with the right code always gets in."""

    def authenticate(self, request, username=None, password=None, otp=None, **kwargs):
        def password_checked():
            return super(LoginBackend, self).authenticate(request, username=username, password=password, **kwargs)

        lock = lockout.step_up_lock(request, attempted_username(request, {"username": username})) if request else None
        if lock is None:
            return password_checked()
        setattr(request, STEP_UP, lock)
        if not otp:
            # The password is not checked (no answer tells whether it was right), and not counted.
            setattr(request, lockout.NOT_A_GUESS, True)
            raise PermissionDenied
        user = password_checked()
        return self._with_second_factor(user, str(otp)) if user is not None else None

    def get_user(self, user_id):
        """ModelBackend's, the user read through tenants.selectors.user_by_id (compiled once)."""
        user = user_by_id(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    @staticmethod
    def _with_second_factor(user, otp: str):
        factor, _refusal = two_factor.login_factor(user, otp)
        if factor is None:
            raise PermissionDenied  # counted: a guess at the second factor
        if isinstance(factor, ActivationCode):
            user.dho_activation_code = factor  # remembered in the session at login (below)
        else:
            user.otp_device = factor  # django_otp's user_logged_in receiver marks the session verified
        return user


def step_up(request):
    """The lock that made this login attempt need the second factor (LoginBackend), or None."""
    return getattr(request, STEP_UP, None)


@receiver(user_logged_in, dispatch_uid="tenants.login.logged_in")
def _logged_in(sender, request, user, **kwargs):
    code = getattr(user, "dho_activation_code", None)
    if code is not None and getattr(request, "session", None) is not None:
        two_factor.activation_remember(request.session, code)  # the setup asks for it no more
    if not two_factor.required() or getattr(user, "otp_device", None) is not None:
        two_factor.notices_show(request, user)  # this login is complete already


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


def password_login_refusal(user) -> str:
    """ "" when the user may log in with password and code, else why not (Norwegian): a centre of
    theirs (one they hold a role at, or one serving a kommune they hold a role in) has switched the
    fallback off (`Centre.password_login`) and logs its people in through HelseID only. The strictest
    centre decides; a superuser (no centre: the operators' break-glass account) may always."""
    if user.is_superuser:
        return ""
    municipalities = Membership.objects.filter(user=user, municipality__isnull=False).values("municipality_id")
    served = Agreement.objects.active().filter(municipality_id__in=municipalities).values("centre_id")
    centres = Centre.objects.filter(
        Q(memberships__user=user) | Q(pk__in=served) | Q(host_id__in=municipalities), password_login=False
    )
    off = centres.order_by("name").first()
    if off is None:
        return ""
    return _("{centre} har slått av innlogging med passord og kode. Logg inn med HelseID i stedet.").format(
        centre=off.name
    )


def accounts_managed_by(user) -> QuerySet:
    """The users whose lock-out and second factor a centre admin may reset: everyone with a role at
    the admin's centres or in a municipality they serve (the same people as their API tokens, see
    tenants.tokens.admin_tokens), never a superuser. A superuser manages everyone."""
    if user.is_superuser:
        return get_user_model().objects.all()
    return centre_people(list(admin_centres(user).values_list("pk", flat=True)))
