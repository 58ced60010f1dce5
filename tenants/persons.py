"""Who a user is outside the platform: the person an identity provider (HelseID) logs in.

The centre admin binds a user to a person on the user's page in the admin, by fødselsnummer, by HPR
number or both (`person_bind`, audited as `person_binding`); nobody binds themselves, and a login by
someone nobody bound is refused (tenants/helseid_login.py). The fødselsnummer is never stored: only
its keyed hash (`pid_digest`, HMAC-SHA256 with DHO_PERSON_HASH_KEY, else SECRET_KEY), which a login's
`pid` is hashed to and compared with. A person is bound to one user and a user to one person.

`user_for_person` finds the user a login is for: by the fødselsnummer's hash first, then by the HPR
number HelseID vouches for (a binding by HPR number alone, or a fastlege whose role the admin gave
with that HPR number: a fastlege is recognised by HPR number without a binding of their own).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from tenants import national_id
from tenants.errors import Refused
from tenants.models import AuditAction, Membership, PersonBinding, Role
from tenants.services import audit_record
from tenants.tokens import sign_out_everywhere

HPR = re.compile(r"\d{6,9}")
PID_SALT = "dho.tenants.persons.pid"


class BindingRefused(Refused):
    """The binding as asked cannot be made (Norwegian, safe to show)."""


def pid_digest(pid: str) -> str:
    """The keyed hash a fødselsnummer is kept as (64 hex characters). The key is DHO_PERSON_HASH_KEY,
    else SECRET_KEY: set the former in production, so that a new SECRET_KEY unbinds nobody."""
    key = getattr(settings, "DHO_PERSON_HASH_KEY", "") or settings.SECRET_KEY
    return salted_hmac(PID_SALT, pid.strip(), secret=key, algorithm="sha256").hexdigest()


def binding_of(user) -> PersonBinding | None:
    return PersonBinding.objects.filter(user=user).first()


def _fnr_checked(fnr: str) -> str:
    try:
        return national_id.parse(fnr, allow_synthetic=settings.DHO_ALLOW_SYNTHETIC_IDS).value
    except national_id.InvalidNationalId as invalid:
        raise BindingRefused(str(invalid)) from None


def _hpr_checked(hpr_number: str) -> str:
    hpr_number = "".join(str(hpr_number or "").split())
    if hpr_number and not HPR.fullmatch(hpr_number):
        raise BindingRefused(_("HPR-nummeret har 6 til 9 sifre."))
    return hpr_number


def _taken_by(**lookup) -> PersonBinding | None:
    return PersonBinding.objects.filter(**lookup).select_related("user").first()


def person_bind(*, user, fnr: str = "", hpr_number: str = "", by, request=None) -> PersonBinding:
    """Binds the user to the person with this fødselsnummer and/or HPR number (what is given replaces
    what was; what is left empty stays as it was). Refused, saying why, when neither is given, when
    one is malformed, or when the person is bound to another user already (naming that user)."""
    fnr = "".join(str(fnr or "").split())
    hpr_number = _hpr_checked(hpr_number)
    if not fnr and not hpr_number:
        raise BindingRefused(_("Skriv fødselsnummeret, HPR-nummeret eller begge."))
    digest = pid_digest(_fnr_checked(fnr)) if fnr else ""
    with transaction.atomic():
        for lookup, what in (
            (("pid_digest", digest), _("fødselsnummeret")),
            (("hpr_number", hpr_number), _("HPR-nummeret")),
        ):
            if lookup[1]:
                other = _taken_by(**{lookup[0]: lookup[1]})
                if other is not None and other.user_id != user.pk:
                    raise BindingRefused(
                        _(
                            "Personen med {what} er allerede koblet til brukeren {username}. Fjern den koblingen først."
                        ).format(what=what, username=other.user.get_username())
                    )
        binding = PersonBinding.objects.select_for_update().filter(user=user).first() or PersonBinding(user=user)
        created = binding.pk is None
        before = (binding.pid_digest, binding.hpr_number)
        if digest:
            binding.pid_digest = digest
        if hpr_number:
            binding.hpr_number = hpr_number
        binding.bound_at, binding.bound_by = timezone.now(), by.get_username()
        try:
            with transaction.atomic():
                binding.save()
        except IntegrityError:  # the same person bound elsewhere in the meantime
            raise BindingRefused(
                _("Personen ble koblet til en annen bruker i samme øyeblikk. Last siden på nytt.")
            ) from None
        audit_record(action=AuditAction.CREATE if created else AuditAction.UPDATE, object_type="person_binding",
                     object_id=user.pk, request=request, user=by, role="admin")  # fmt: skip
        if not created and before != (binding.pid_digest, binding.hpr_number):
            _sign_out_rebound(user)
    return binding


def _sign_out_rebound(user) -> None:
    """A binding changed or removed is an admin's correction: whoever HelseID logged in as this user
    under the old binding (the wrong person, perhaps) keeps no session and no API token of it."""
    sign_out_everywhere(user=user)


def person_unbind(*, user, by, request=None) -> bool:
    """Removes the user's binding: HelseID logs them in no more (a fastlege still by HPR number, as
    long as a fastlege role carries it). Audited."""
    deleted, _by_model = PersonBinding.objects.filter(user=user).delete()
    if deleted:
        audit_record(action=AuditAction.DELETE, object_type="person_binding", object_id=user.pk, request=request,
                     user=by, role="admin")  # fmt: skip
        _sign_out_rebound(user)
    return bool(deleted)


@dataclass(frozen=True)
class Found:
    """The user a login is for, and how they were recognised ("pid", "hpr", "fastlege")."""

    user: Any
    how: str


def user_for_person(*, pid: str, hpr_number: str = "") -> Found | None:
    """The user the person is bound to, active or not (the caller refuses an inactive one); None
    when the platform does not know the person."""
    users = get_user_model().objects
    binding = PersonBinding.objects.filter(pid_digest=pid_digest(pid)).select_related("user").first() if pid else None
    if binding is not None:
        return Found(binding.user, "pid")
    if not hpr_number or not HPR.fullmatch(hpr_number):
        return None
    # By HPR number only where no fødselsnummer says otherwise: a binding with another person's
    # fødselsnummer and this HPR number is an admin's mistake, not this person.
    binding = PersonBinding.objects.filter(hpr_number=hpr_number, pid_digest="").select_related("user").first()
    if binding is not None:
        return Found(binding.user, "hpr")
    gp_users = set(Membership.objects.filter(role=Role.GP, hpr_number=hpr_number).values_list("user_id", flat=True))
    if len(gp_users) == 1:  # one fastlege has this number (two would be an error to be mended, not guessed)
        user_id = gp_users.pop()
        if not PersonBinding.objects.filter(user_id=user_id).exclude(pid_digest="").exists():
            return Found(users.get(pk=user_id), "fastlege")
    return None


def logged_in(user) -> None:
    """Notes the binding's last HelseID login (what the admin's list shows)."""
    PersonBinding.objects.filter(user=user).update(last_login_at=timezone.now())
