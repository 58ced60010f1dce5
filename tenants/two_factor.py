"""The second factor: a TOTP code from an authenticator app (django-otp), with backup codes.

Outside debug mode (`DHO_DEBUG` off, the tests included) every login needs it, whatever the role:

1. the password on `/login/` or the admin's login (django-axes counts the failures and locks out,
   tenants/login.py);
2. `/login/verify/`: the six digits the app shows, or one of the backup codes. A user without an
   app yet is sent to `/login/setup/` instead: first the activation code the centre admin issued
   (tenants/activation.py; the password alone never sets up an app), then a QR code (drawn here, no
   outside service), confirmed with the first code, which uses the activation code up, and ten
   backup codes shown once;
3. only then any page, or the API by session (`tenants.login.TwoFactorMiddleware`).

While a username or address is under attack (tenants/lockout.py) step 1 wants the code too, on the
login form itself (`login_factor`: the app's code, a backup code, or before an app is set up the
activation code); the session is then verified from the start.

`make run`'s demo logins skip step 2 only because `make run` turns `DHO_DEBUG` on (`required()`).

A centre admin resets a user's second factor in the admin (a lost phone): `two_factor_reset` deletes
the user's app and backup codes, and the admin gets a new activation code for the user's next login.
Every setup and reset is audited and told to the user at their next login (`notices_show`).

API tokens (`POST /api/v1/auth/token/`): with the second factor required, the body carries `otp`
(a code from the app, or a backup code) beside username and password, checked by
`token_login_refusal`; a user who has never set up the app logs in on the web first. A token made on
the «API-nøkler» page asks for a fresh proof too (`reauthentication_refusal`), although the session
passed step 2 at login: the token outlives the screen it was made on. The proof is a code from the
app, or a HelseID login less than `STEP_UP_SECONDS` old (counted from HelseID's `auth_time`, when
the person authenticated there, not from when the platform heard of it): a sudo window. A HelseID
user past it presses «Bekreft med HelseID», the same login again with `prompt=login`, so HelseID
authenticates the person anew and the window opens again (tenants/views_helseid.py).

**HelseID (OpenID Connect), the production login** (tenants/helseid_login.py, tenants/oidc.py):
HelseID authenticates the person at security level 4, itself multi-factor, so a HelseID login
replaces steps 1 and 2 rather than adding to them. Its callback maps the person to a user, calls
`django.contrib.auth.login` and then `mark_strong_login(request, issuer=…)`: the middleware accepts
such a session as it accepts a verified TOTP. Lock-out, the session's limits and the audit log apply
unchanged; a centre may switch the password login off (tenants.login.password_login_refusal).
"""

from __future__ import annotations

import datetime
import time
from base64 import b32encode

import django_otp.middleware
import qrcode
import qrcode.image.svg
from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django_otp import DEVICE_ID_SESSION_KEY, device_classes
from django_otp import login as otp_login
from django_otp.models import Device, VerifyNotAllowed
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants import activation, sessions
from tenants.compiled import NO_ID, CompiledQuery
from tenants.models import AuditAction, SecondFactorChange, SecondFactorChangeKind
from tenants.norwegian import datetime_text
from tenants.services import audit_record

BACKUP_CODES = 10
APP_DEVICE_NAME = "Autentiseringsapp"
BACKUP_DEVICE_NAME = "Reservekoder"
# Set by an identity provider's callback (HelseID) whose login was itself multi-factor: the issuer,
# and when the person authenticated there (the ID token's `auth_time`).
STRONG_LOGIN_KEY = "dho_strong_login"
STRONG_LOGIN_AT_KEY = "dho_strong_login_at"
# How long a strong login stands in for a fresh code where one is asked again (a new API token).
STEP_UP_SECONDS = 600
STEP_UP_SKEW = 30  # seconds an identity provider's clock may be ahead of ours (as tenants/oidc.py allows)
# The activation code this session gave (its id): the setup shows the QR code only after it.
ACTIVATION_KEY = "dho_activation_code"


def required() -> bool:
    """The second factor is required everywhere but in debug mode (`make run`'s demo)."""
    return not settings.DEBUG


def session_is_verified(request) -> bool:
    """Has this session passed the second factor (a TOTP or backup code, or a strong IdP login)?"""
    user = request.user
    verified = getattr(user, "is_verified", None)  # installed by django_otp's OTPMiddleware
    return bool((verified and verified()) or request.session.get(STRONG_LOGIN_KEY))


def mark_strong_login(request, *, issuer: str, auth_time: float | None = None) -> None:
    """The HelseID seam: an identity provider's multi-factor login stands in for the TOTP step.
    `auth_time`: when the provider authenticated the person (the ID token's claim; now if not given)."""
    request.session[STRONG_LOGIN_KEY] = issuer
    request.session[STRONG_LOGIN_AT_KEY] = float(auth_time if auth_time is not None else time.time())
    request.session.cycle_key()
    notices_show(request)


def strong_login_recent(session, *, now: float | None = None) -> bool:
    """Did this session's strong (HelseID) login authenticate the person less than STEP_UP_SECONDS ago?"""
    at = session.get(STRONG_LOGIN_AT_KEY)
    if not session.get(STRONG_LOGIN_KEY) or isinstance(at, bool) or not isinstance(at, int | float):
        return False
    age = (time.time() if now is None else now) - at
    return -STEP_UP_SKEW <= age <= STEP_UP_SECONDS


def strong_login_session(session) -> bool:
    """Did this session log in through a strong identity provider (HelseID)?"""
    return bool(session.get(STRONG_LOGIN_KEY))


def has_app(user) -> bool:
    """Has the user a confirmed authenticator app?"""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


# --- setting the app up ----------------------------------------------------------------------------


def activated(request) -> bool:
    """Has this session given a valid activation code (the step before the QR code)?"""
    return activation.activation_code_valid(request.user, request.session.get(ACTIVATION_KEY))


def activation_remember(session, code) -> None:
    session[ACTIVATION_KEY] = code.pk


def activation_give(request, text: str) -> str:
    """The setup's first step: "" when the text is the user's valid activation code (remembered in
    the session until the app is confirmed), else what was wrong. A wrong, used or expired code is
    a failed login like a wrong password (tenants/lockout.py counts it)."""
    code, error = activation.activation_code_check(request.user, text)
    if code is None:
        user_login_failed.send(sender=__name__, credentials={"username": request.user.get_username()}, request=request)
        return error
    activation_remember(request.session, code)
    return ""


def setup_device(user) -> TOTPDevice:
    """The app being set up: the same unconfirmed secret until it is confirmed (a reload of the page
    shows the same QR code, so a scan already made still works)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    return device or TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL as an inline SVG (white quiet zone, no style attribute: CSP-safe)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=14)
    svg = image.to_string(encoding="unicode")
    label = _("QR-kode for autentiseringsappen")
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)


def secret_text(device: TOTPDevice) -> str:
    """The secret in base32, in groups of four, for typing into an app that cannot scan."""
    text = b32encode(device.bin_key).decode()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def setup_confirm(*, request, device: TOTPDevice, code: str) -> tuple[list[str] | None, str]:
    """Confirms the app with its first code and uses the session's activation code up: (the new
    backup codes, "") or (None, what was wrong). The session counts as verified from here on (the
    code just proved the app). Audited, and told to the user at their next login."""
    code = _normalise(code)
    if not (code.isdigit() and len(code) == device.digits):
        return None, _("Skriv inn de {digits} sifrene appen viser nå.").format(digits=device.digits)
    user = request.user
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(pk=device.pk, user=user, confirmed=False).first()
        if device is None:  # confirmed (or reset) in another tab meanwhile
            return None, _("Oppsettet er endret i et annet vindu. Last siden på nytt og prøv igjen.")
        refusal = _throttled(device)
        if refusal:
            return None, refusal
        if not device.verify_token(code):
            return None, _("Koden stemmer ikke. Sjekk at klokken på telefonen går riktig, og prøv den neste koden.")
        if not activation.activation_code_use(user=user, code_id=request.session.pop(ACTIVATION_KEY, None)):
            return None, _("Aktiveringskoden gjelder ikke lenger (brukt eller utløpt). Be administratoren om en ny.")
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        codes = backup_codes_create(user=user)
        _change_record(user=user, kind=SecondFactorChangeKind.SETUP, by=user, request=request)
    _session_verified(request, device)
    return codes, ""


# --- backup codes -------------------------------------------------------------------------------


def _normalise(code: str) -> str:
    return "".join(str(code or "").split()).replace("-", "").lower()[:64]


def _digest(code: str) -> str:
    """What is stored for a backup code: a keyed hash (ASVS 2.6.2), never the code. 16 characters is
    what django-otp's StaticToken holds."""
    return salted_hmac("dho.two_factor.backup_code", _normalise(code), algorithm="sha256").hexdigest()[:16]


def backup_codes_create(*, user) -> list[str]:
    """Ten new backup codes for the user, shown once; the old ones stop working."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _n in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=_digest(code)) for code in codes)
    return [f"{code[:4]}-{code[4:]}" for code in codes]


def backup_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user).count()


# --- checking a code ----------------------------------------------------------------------------


def _throttled(device) -> str:
    allowed, data = device.verify_is_allowed()
    if allowed:
        return ""
    if data and data.get("reason") == VerifyNotAllowed.N_FAILED_ATTEMPTS:
        wait = max(1, round(data["locked_until"].timestamp() - time.time()))
        return _("For mange feil koder på rad. Vent {seconds} sekunder og prøv igjen.").format(seconds=wait)
    return _("Koden kan ikke sjekkes nå. Prøv igjen om litt.")


def _matching_device(user, code: str) -> tuple[object | None, str]:
    """(the device that accepts the code, "") or (None, what was wrong). Six digits are an app code,
    anything else a backup code; both are throttled per device by django-otp (1, 2, 4 … s)."""
    code = _normalise(code)
    if not code:
        return None, _("Skriv inn koden fra autentiseringsappen, eller en reservekode.")
    with transaction.atomic():
        if code.isdigit() and len(code) == 6:  # backup codes are eight characters
            devices = list(TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True))
            token = code
        else:
            devices = list(StaticDevice.objects.select_for_update().filter(user=user, confirmed=True))
            token = _digest(code)
        if not devices:
            return None, _("Koden stemmer ikke. Skriv inn de seks sifrene appen viser nå, eller en reservekode.")
        refusal = ""
        for device in devices:
            refusal = _throttled(device)
            if refusal:
                continue
            if device.verify_token(token):
                return device, ""
    return None, refusal or _("Koden stemmer ikke. Skriv inn de seks sifrene appen viser nå, eller en reservekode.")


def _session_verified(request, device) -> None:
    otp_login(request, device)
    request.session.cycle_key()  # a new key for the now stronger login (no fixation across the step)
    notices_show(request)


def verify(request, code: str) -> str:
    """Checks the code of the logged-in user and marks the session verified. "" on success, else
    what was wrong (in Norwegian)."""
    device, refusal = _matching_device(request.user, code)
    if device is None:
        return refusal
    _session_verified(request, device)
    return ""


def session_mark_verified(session, device) -> None:
    """What `verify` leaves in a session, for a client whose user proved the device otherwise
    (the tests' login fixture, the worklist benchmark)."""
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id


def login_factor(user, code: str) -> tuple[object | None, str]:
    """The second factor given on the login form itself (while the username or address is under
    attack, tenants/lockout.py), after the password was right: (the app or backup-code device, or
    for a user without an app their valid activation code, "") or (None, what was wrong)."""
    if has_app(user):
        return _matching_device(user, code)
    return activation.activation_code_check(user, code)


def token_login_refusal(user, code: str | None, *, verified: bool = False) -> str:
    """For the token endpoint, after the password was right: "" when a token may be issued, else why
    not. With the second factor required, `otp` must be a current app code or a backup code (checked
    once: `verified` when the login's step-up has checked it already)."""
    if not required() or (verified and has_app(user)):
        return ""
    if not has_app(user):
        return _(
            "Brukeren har ikke satt opp tofaktorinnlogging. Logg inn på nettsiden først og sett opp "
            "autentiseringsappen, og send så koden i feltet «otp»."
        )
    if not code:
        return _("Tofaktorinnlogging kreves: send koden fra autentiseringsappen (eller en reservekode) i feltet «otp».")
    _device, refusal = _matching_device(user, str(code))
    return refusal and _("Feltet «otp»: {refusal}").format(refusal=refusal)


REAUTHENTICATE_WITH_HELSEID = (
    "Bekreft at det er deg: logg inn med HelseID på nytt («Bekreft med HelseID»). En HelseID-innlogging "
    "gjelder som bekreftelse i {minutes} minutter."
)


def reauthentication_refusal(request, code: str | None) -> str:
    """For a step that asks for the second factor again within a verified session (a new API token on
    the page): "" when the session's HelseID login is recent (`strong_login_recent`), or the code is
    right, or the second factor is not required (debug mode, which skips it at login too); else what
    was wrong. A backup code works here as at login."""
    if not required() or strong_login_recent(request.session):
        return ""
    user = request.user
    if not has_app(user):
        if strong_login_session(request.session):
            return _(REAUTHENTICATE_WITH_HELSEID).format(minutes=STEP_UP_SECONDS // 60)
        return _("Du har ikke satt opp autentiseringsappen. Sett den opp før du lager en API-nøkkel.")
    _device, refusal = _matching_device(user, str(code or ""))
    return refusal


# --- the admin's reset --------------------------------------------------------------------------


def two_factor_reset(*, user, by=None, request=None, system: str = "") -> int:
    """Deletes the user's app and backup codes (a lost phone). Their sessions stop counting as
    verified at once (the device they name is gone); the next login sets up a new app, with a new
    activation code (tenants/activation.py). Audited, and told to the user at their next login."""
    deleted = 0
    with transaction.atomic():
        for model in device_classes():
            count, _by_model = model.objects.filter(user=user).delete()
            deleted += count
        _change_record(user=user, kind=SecondFactorChangeKind.RESET, by=by, request=request, system=system)
    return deleted


# --- telling the user ---------------------------------------------------------------------------


def _change_record(*, user, kind: str, by, request, system: str = "") -> None:
    SecondFactorChange.objects.create(user=user, kind=kind, by=by.get_username() if by is not None else "")
    action = AuditAction.CREATE if kind == SecondFactorChangeKind.SETUP else AuditAction.DELETE
    audit_record(
        action=action,
        object_type="second_factor",
        object_id=user.pk,
        request=request,
        user=by,
        role="admin" if by is not None and by != user else "",
        system="" if by is not None else (system or "two_factor"),
    )


def _when(moment) -> str:
    return datetime_text(moment, kl=True)


def notice_text(change: SecondFactorChange) -> str:
    if change.kind == SecondFactorChangeKind.SETUP:
        text = _("Tofaktorinnloggingen din ble satt opp {when}.").format(when=_when(change.at))
    elif change.by:
        text = _("Tofaktorinnloggingen din ble nullstilt av {by} {when}.").format(by=change.by, when=_when(change.at))
    else:
        text = _("Tofaktorinnloggingen din ble nullstilt {when}.").format(when=_when(change.at))
    report = _("Gjorde ikke du dette, og var det ikke avtalt med deg, si fra til administratoren ved senteret.")
    return f"{text} {report}"


def _login_began(request) -> datetime.datetime:
    began = request.session.get(sessions.LOGIN_AT)
    if isinstance(began, int | float):
        return datetime.datetime.fromtimestamp(began, datetime.UTC)
    return timezone.now()


def notices_show(request, user=None) -> None:
    """At the end of a login (the second factor passed, or not required): what changed with the
    user's second factor before this login began, once, as messages on the next page."""
    user = user or request.user
    changes = SecondFactorChange.objects.filter(user=user, notified_at__isnull=True, at__lt=_login_began(request))
    changes = list(changes.order_by("at"))
    for change in changes:
        messages.warning(request, notice_text(change), fail_silently=True)
    if changes:
        SecondFactorChange.objects.filter(pk__in=[c.pk for c in changes]).update(notified_at=timezone.now())


# --- every request: the session's verified device, read through a compiled query ---------------------

# The device's model by its label (otp_totp.totpdevice, otp_static.staticdevice), compiled once per
# process (tenants/compiled.py): every request of a verified session reads it.
_DEVICE = CompiledQuery(lambda label, pk: apps.get_model(label).objects.filter(pk=pk)[:1], pk=NO_ID)


class OTPMiddleware(django_otp.middleware.OTPMiddleware):
    """django-otp's middleware (settings.MIDDLEWARE), with the session's device read as its own
    `Device.from_persistent_id` does (a model of django-otp's by label, then its id) through a
    compiled query. What it does with the device (its user, confirmed, the session key dropped) is
    django-otp's, unchanged."""

    def _device_from_persistent_id(self, persistent_id: str):
        label, _, device_id = self._normalize_persistent_id(persistent_id).rpartition("/")
        try:
            model = apps.get_model(label)
            pk = int(device_id)
        except (ValueError, LookupError):
            return None
        if not issubclass(model, Device):
            return None
        return _DEVICE.first(model._meta.label_lower, pk=pk)
