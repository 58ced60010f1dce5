"""Activation codes: what a user needs, besides the password, to set up their authenticator app.

Without one, whoever first logged in with a new user's password (or after the admin's «Nullstill
tofaktor») would bind their own app to the account. The centre admin issues a code in the admin
(«Lag aktiveringskode», and «Nullstill tofaktor» issues one too), or ops with `manage.py
dho_activation_code <username>` (a fresh install's first admin has no admin to ask). The code is
shown once, stored only as a keyed hash, expires after DHO_ACTIVATION_CODE_HOURS (72) and sets up
one app: `/login/setup/` asks for it before it shows the QR code, and the app's first code uses it
up (tenants/two_factor.py). A new code replaces the user's unused ones. A wrong, used or expired
code counts as a failed login (tenants/lockout.py). Every code issued is audited.

The same code sets the user's password, once, before the app: `/login/code/` («Glemt passord?» on
the login page) takes the username, the code and a new password (Django's password validators), and
then logs the user in straight to the app's setup with the code already given. A new user created in
the admin has no password until then, so one code from the admin is all they need. For a user who
has an app already (a forgotten password), the admin's «Lag kode for nytt passord» issues a code
that sets the password only (`for_password=True`): the login still wants the app's code after it.
"""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants.models import ActivationCode, AuditAction
from tenants.services import audit_record

# Crockford's base32: no I, L, O or U, so what is read aloud or typed from paper is what was meant.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 12  # 60 bits: far beyond guessing at the lock-out's pace
_TYPED_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})


class AlreadySetUp(Exception):
    """The user has an authenticator app already: reset it first (a code would set up nothing)."""

    def __init__(self, user):
        super().__init__(
            _("{user} har allerede satt opp autentiseringsappen. Nullstill tofaktor først.").format(
                user=user.get_username()
            )
        )


@dataclass(frozen=True)
class Issued:
    """A code just issued: the only time its text exists outside the user's hands."""

    user: object
    code: str
    expires_at: datetime.datetime


def _normalise(text: str) -> str:
    return "".join(str(text or "").split()).replace("-", "").upper().translate(_TYPED_AS)[:64]


def _digest(text: str) -> str:
    """A keyed hash (the SECRET_KEY's), never the code."""
    return salted_hmac("dho.activation_code", _normalise(text), algorithm="sha256").hexdigest()


def _shown(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def lifetime() -> datetime.timedelta:
    return datetime.timedelta(hours=settings.DHO_ACTIVATION_CODE_HOURS)


def activation_code_issue(*, user, by=None, request=None, system: str = "", for_password: bool = False) -> Issued:
    """A new code for the user (their unused ones stop working), audited as issued by `by` (an
    admin) or by `system` (a management command). Refused with AlreadySetUp for a user with an app,
    unless the code is `for_password` (a forgotten password: the code sets the password only)."""
    if not for_password and TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise AlreadySetUp(user)
    code = "".join(secrets.choice(ALPHABET) for _n in range(LENGTH))
    now = timezone.now()
    with transaction.atomic():
        ActivationCode.objects.filter(user=user, used_at__isnull=True).delete()
        ActivationCode.objects.create(
            user=user,
            digest=_digest(code),
            created_at=now,
            expires_at=now + lifetime(),
            issued_by=by.get_username() if by is not None else f"system:{system}",
        )
        audit_record(
            action=AuditAction.CREATE,
            object_type="activation_code",
            object_id=user.pk,
            request=request,
            user=by,
            role="admin" if by is not None else "",
            system="" if by is not None else system,
        )
    return Issued(user=user, code=_shown(code), expires_at=now + lifetime())


def activation_code_check(user, text: str) -> tuple[ActivationCode | None, str]:
    """(the user's valid code matching the text, "") or (None, what was wrong, in Norwegian).
    Nothing is used up here: setting up the app does that (`activation_code_use`)."""
    if not _normalise(text):
        return None, _("Skriv inn aktiveringskoden du har fått av administratoren ved oppfølgingssenteret.")
    code = ActivationCode.objects.filter(user=user, digest=_digest(text)).first()
    if code is None:
        return None, _("Aktiveringskoden stemmer ikke. Sjekk at du har skrevet den riktig.")
    if code.used_at is not None:
        return None, _("Aktiveringskoden er allerede brukt. Be administratoren ved oppfølgingssenteret om en ny.")
    if code.expires_at <= timezone.now():
        return None, _("Aktiveringskoden er utløpt. Be administratoren ved oppfølgingssenteret om en ny.")
    return code, ""


def activation_code_valid(user, code_id) -> bool:
    """Is this (remembered) code still the user's, unused and unexpired?"""
    if not isinstance(code_id, int):
        return False
    return ActivationCode.objects.filter(
        pk=code_id, user=user, used_at__isnull=True, expires_at__gt=timezone.now()
    ).exists()


def activation_code_use(*, user, code_id) -> bool:
    """Uses the code up, inside the transaction that confirms the app; False if it is no longer
    valid (used in another tab, expired, replaced by a newer one)."""
    return bool(
        ActivationCode.objects.filter(
            pk=code_id, user=user, used_at__isnull=True, expires_at__gt=timezone.now()
        ).update(used_at=timezone.now())
    )


# --- the password, set with the code (/login/code/) --------------------------------------------------


def password_code_check(user, text: str) -> tuple[ActivationCode | None, str]:
    """(the user's code that may still set the password, "") or (None, what was wrong). The answer
    for an unknown user is the same as for a wrong code: the page tells no one which usernames exist."""
    if not _normalise(text):
        return None, _("Skriv inn koden du har fått av administratoren ved oppfølgingssenteret.")
    code = None
    if user is not None and user.is_active:
        code = ActivationCode.objects.filter(user=user, digest=_digest(text)).first()
    if code is None:
        return None, _("Brukernavnet eller koden stemmer ikke. Sjekk begge og prøv igjen.")
    if code.password_set_at is not None or code.used_at is not None:
        return None, _("Koden er allerede brukt. Be administratoren ved oppfølgingssenteret om en ny.")
    if code.expires_at <= timezone.now():
        return None, _("Koden er utløpt. Be administratoren ved oppfølgingssenteret om en ny.")
    return code, ""


def password_set_with_code(*, code: ActivationCode, password: str, request=None) -> bool:
    """Sets the user's password and uses the code's password step up (claimed in one UPDATE, so two
    tabs cannot both use it); audited as the user. False if the code was used meanwhile. Changing the
    password ends the user's other sessions and API tokens (tenants/sessions.py, tenants/tokens.py)."""
    user = code.user
    with transaction.atomic():
        claimed = ActivationCode.objects.filter(
            pk=code.pk, password_set_at__isnull=True, used_at__isnull=True, expires_at__gt=timezone.now()
        ).update(password_set_at=timezone.now())
        if not claimed:
            return False
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(action=AuditAction.UPDATE, object_type="password", object_id=user.pk, request=request, user=user)
    return True
