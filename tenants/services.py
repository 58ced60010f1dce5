"""The audit log: one helper writes every read and write of patient data. The login's security
events (a lock-out starting or lifted, an activation code issued, a second factor set up or reset)
are written the same way, without a patient (no municipality: the centre admin reads them in their
own lists, tenants/admin.py)."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable
from typing import cast

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _
from knox.models import AuthToken

from tenants.bulk import bulk_insert
from tenants.errors import Refused
from tenants.models import Agreement, AuditAction, AuditEvent, Centre, LoginMethod, Membership, Municipality, Role
from tenants.norwegian import date_text
from tenants.people import display_name
from tenants.selectors import role_for_patient, user_scope
from tenants.sessions import LOGIN_METHOD

OBJECT_ID_LENGTH = AuditEvent._meta.get_field("object_id").max_length


def client_address(request) -> str | None:
    """The address dho.middleware worked out (X-Forwarded-For only from a trusted proxy). A request
    that did not pass it (a test's RequestFactory) gives its peer, and only if that is an address."""
    if hasattr(request, "client_ip"):
        return request.client_ip
    try:
        return str(ipaddress.ip_address((request.META.get("REMOTE_ADDR") or "").split("%", 1)[0]))
    except ValueError:
        return None


def login_method(request, authenticated: bool = True) -> str:
    """How the request's user logged in (tenants.models.LoginMethod): an API token, else what the
    session recorded at login (tenants.sessions); "" for no login (a gateway, a task, a command).
    DRF sets `auth` on the Django request too, so either request will do."""
    if request is None or not authenticated:
        return ""
    if isinstance(getattr(request, "auth", None), AuthToken):
        return LoginMethod.API_TOKEN
    session = getattr(request, "session", None)
    return str(session.get(LOGIN_METHOD, "")) if session is not None else ""


def _role(user, patient) -> str:
    # The patient's own fields, read here: tenants sits below patients and never imports it.
    return role_for_patient(user, municipality_id=patient.municipality_id, gp_id=patient.gp_id)


def _event(
    *, request, user, action, object_type, object_id, patient, role, system="", municipality_id=None
) -> AuditEvent:
    user = user or getattr(request, "user", None)
    authenticated = bool(user and user.is_authenticated) and not system
    return AuditEvent(
        user=user if authenticated else None,
        username=user.get_username() if authenticated else (f"system:{system}"[:150] if system else ""),
        role=role or (_role(user, patient) if patient is not None and authenticated else ""),
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        patient_id=patient.pk if patient is not None else None,
        municipality_id=patient.municipality_id if patient is not None else municipality_id,
        ip=client_address(request) if request is not None else None,
        request_id=getattr(request, "request_id", "") if request is not None else "",
        upstream_request_id=getattr(request, "upstream_request_id", "") if request is not None else "",
        login_method=login_method(request, authenticated),
    )


def audit_record(
    *,
    action: AuditAction | str,
    object_type: str,
    object_id=None,
    patient=None,
    request=None,
    user=None,
    role: str = "",
    system: str = "",
    municipality_id: int | None = None,
) -> AuditEvent:
    """Record one access. `patient` fills patient and municipality; `request` fills user, IP and id.
    `system` names a management command or the platform itself as the actor (`system:<name>`, as
    tenants.rls.system_scope writes), for what no person did. `municipality_id` files an event of no
    patient under a kommune (a kommune's innbyggertall), so the admins of the centres serving it read it."""
    event = _event(
        municipality_id=municipality_id,
        request=request,
        user=user,
        action=action,
        object_type=object_type,
        object_id=object_id,
        patient=patient,
        role=role,
        system=system,
    )
    event.save()
    return event


def audit_record_many(*, action, object_type: str, patients: Iterable, request=None, user=None, role: str = "") -> None:
    """A list of patients read (`audit_record_list`): the list's own event, and one per patient shown,
    so the log says exactly whose data was on screen. Lists are long and refresh often, so the events
    go in with one INSERT … SELECT unnest. `role` names the role used when it is not one that reaches
    patients (a centre admin)."""
    audit_record_list(
        action=action,
        object_type=object_type,
        objects=[(p.pk, p) for p in patients],
        request=request,
        user=user,
        role=role,
    )


def audit_record_list(
    *,
    object_type: str,
    objects: Iterable[tuple],
    action=AuditAction.VIEW,
    request=None,
    user=None,
    role: str = "",
    query: str | None = None,
) -> None:
    """A list read, in one INSERT: one event for the list itself and one per row shown.

    The list's event has the list as its object: the list's name as object type, the address that
    asked for it (path, filters, page; `query`) as object id, and no patient, since a list is no one
    patient's. Its municipality is the one every row shares (a koordinator's list), else none; its
    role the given one, or the one every row was reached by, or the user's only one. Each row's event is as
    `audit_record_many_objects` writes it, under the list's name, so a patient's «innsyn i logg» says
    they were on the list. An empty list is written too: a search that found no one was a search."""
    rows = _subject_rows(objects, request=request, user=user, role=role)
    if query is None:
        query = request.get_full_path() if request is not None else ""
    municipalities, roles = {r[2] for r in rows}, {r[3] for r in rows}
    municipality_id = municipalities.pop() if len(municipalities) == 1 else None
    list_role = role or (roles.pop() if len(roles) == 1 else _only_role(request, user))
    list_row = (query[:OBJECT_ID_LENGTH], None, municipality_id, list_role)
    _insert_events(request, action, object_type, rows=[list_row, *rows], **_actor(request, user))


def audit_record_many_objects(
    *, action, object_type: str, objects: Iterable[tuple], request=None, user=None, role: str = ""
) -> None:
    """One event per (object id, subject) in one INSERT, for a step on several objects at once (the
    loans of a kit) — a list read is `audit_record_list`. The subject is a patient, or anything with
    `pk` (None: no patient), `municipality_id` and `gp_id` (patients.services.status.NoPatientYet, a
    referral before the grant); the object id is the object's own (the loan's, the referral's)."""
    rows = _subject_rows(objects, request=request, user=user, role=role)
    if rows:
        _insert_events(request, action, object_type, rows=rows, **_actor(request, user))


def _actor(request, user) -> dict:
    user = user or getattr(request, "user", None)
    authenticated = bool(user and user.is_authenticated)
    return {
        "user_id": user.pk if authenticated else None,
        "username": user.get_username() if authenticated else "",
    }


def _only_role(request, user) -> str:
    """The user's role when they hold just one (an empty list's event), else none."""
    user = user or getattr(request, "user", None)
    roles = user_scope(user).roles if user is not None else ()
    return next(iter(roles)) if len(roles) == 1 else ""


def _subject_rows(objects: Iterable[tuple], *, request, user, role: str) -> list[tuple]:
    """(object id, patient id, municipality id, role used) for each (object id, subject)."""
    user = user or getattr(request, "user", None)
    authenticated = bool(user and user.is_authenticated)

    def role_used(subject) -> str:
        return role or (_role(user, subject) if authenticated else "")

    return [(str(oid or ""), s.pk, s.municipality_id, role_used(s)) for oid, s in objects]


def audit_record_integration(*, integration, action, object_type: str, patient_counts: dict, request=None) -> None:
    """One event per patient a gateway wrote for, the integration named as the actor."""
    if not patient_counts:
        return
    _insert_events(
        request,
        action,
        object_type,
        user_id=None,
        username=f"integrasjon:{integration.name}",
        rows=[(str(count), pid, mid, "integration") for (pid, mid), count in patient_counts.items()],
    )


def audit_record_integration_event(
    *, integration, action, object_type: str, object_id, request=None, patient=None
) -> None:
    """One event of a gateway's about one object. Of a patient (`patient`: anything with `pk` and
    `municipality_id`; a reading read back), in the patient's municipality; of none (its quarantine
    full for the day), in its centre's host municipality, so the centre admin finds it in the centre's log."""
    subject = (patient.pk, patient.municipality_id) if patient is not None else (None, integration.centre.host_id)
    _insert_events(
        request,
        action,
        object_type,
        user_id=None,
        username=f"integrasjon:{integration.name}",
        rows=[(str(object_id), *subject, "integration")],
    )


def _insert_events(request, action, object_type: str, *, user_id, username: str, rows: list[tuple]) -> None:
    """rows: (object_id, patient_id, municipality_id, role). A 1,000-row batch is one statement."""
    bulk_insert(
        AuditEvent,
        {
            "at": timezone.now(),
            "user_id": user_id,
            "username": username,
            "role": [r[3] for r in rows],
            "action": str(action),
            "object_type": object_type,
            "object_id": [r[0] for r in rows],
            "patient_id": [r[1] for r in rows],
            "municipality_id": [r[2] for r in rows],
            "ip": client_address(request) if request is not None else None,
            "request_id": getattr(request, "request_id", "") if request is not None else "",
            "upstream_request_id": getattr(request, "upstream_request_id", "") if request is not None else "",
            "login_method": login_method(request, user_id is not None),
        },
    )


# --- the centre admin: users and their roles (tenants/admin.py) ---------------------------------------
# A centre admin creates the centre's users, gives and ends their roles (memberships) and deactivates
# them, in the admin. Memberships are written through the owner's audited function (the model's
# save/delete, tenants/configuration.py), which logs the row; the user's own changes are logged here,
# as security events without a patient.

# Where a role may be held: a koordinator and a fastlege belong to a kommune, a centre admin to a
# centre, and so does a leder (who reads the centre's figures, insight); the others to either (a nurse
# of a kommune that follows up its own patients, say).
ROLE_PLACES = {"admin": {"centre"}, "leader": {"centre"}, "coordinator": {"municipality"}, "gp": {"municipality"}}


def membership_place_refusal(role: str, *, centre=None, municipality=None) -> str:
    """ "" when the role may be held there, else what was wrong (Norwegian)."""
    if (centre is None) == (municipality is None):
        return _("Velg enten et oppfølgingssenter eller en kommune for rollen.")
    place = "centre" if centre is not None else "municipality"
    if place not in ROLE_PLACES.get(role, {"centre", "municipality"}):
        where = _("et oppfølgingssenter") if place == "municipality" else _("en kommune")
        return _("Rollen {role} gis i {where}.").format(role=Role(role).label, where=where)
    return ""


def user_create(*, username: str, role: str, centre=None, municipality=None, first_name: str = "",
                last_name: str = "", email: str = "", by, request=None):  # fmt: skip
    """A new user with their first role. No password: the user sets it with the code the admin
    issues (tenants/activation.py), which then sets up their authenticator app too."""
    with transaction.atomic():
        user = get_user_model()(username=username, first_name=first_name, last_name=last_name, email=email,
                                is_staff=role == Role.ADMIN)  # fmt: skip
        user.set_unusable_password()
        user.save()
        Membership(user=user, role=role, centre=centre, municipality=municipality).save()
        audit_record(action=AuditAction.CREATE, object_type="user", object_id=user.pk, request=request, user=by,
                     role="admin")  # fmt: skip
    return user


def user_update(*, user, fields: list[str], by, request=None) -> None:
    """Saves the admin's change of a user's name, e-mail or active state, audited."""
    if not fields:
        return
    user.save(update_fields=fields)
    audit_record(action=AuditAction.UPDATE, object_type="user", object_id=user.pk, request=request, user=by,
                 role="admin")  # fmt: skip


# Sent inside the transaction of a deactivation or an ended role (`user_access_reduced(user=…, by=…,
# request=…)`), for the apps above tenants: triage lets go of the alerts the user took and may no
# longer follow up, so the worklist does not show them held by someone who cannot act on them.
user_access_reduced = Signal()


class UserRefused(Refused):
    """The user cannot be deactivated as asked (400; Norwegian)."""


def user_deactivate_refusal(user, *, lock: bool = False) -> str:
    """ "" unless deactivating the user leaves a centre where they are an admin without another active
    admin, else what to do instead (Norwegian): as for ending the role itself, no one at the centre
    could then give the role again. `lock`: first wait for any other change of those centres' admins
    (`_centre_admins_lock`), so that two admins deactivating each other at once cannot both pass."""
    held = Membership.objects.filter(user=user, role=Role.ADMIN).exclude(centre=None).select_related("centre")
    for membership in held.order_by("centre_id"):  # one order: two such deactivations never deadlock
        centre = cast(Centre, membership.centre)  # an admin role is a centre's (excluded: none)
        if lock:
            _centre_admins_lock(membership)
        others = Membership.objects.filter(role=Role.ADMIN, centre=centre, user__is_active=True)
        if not others.exclude(user=user).exists():
            return _(
                "{senter} må ha minst én aktiv senteradministrator: gi rollen til en annen bruker før du "
                "deaktiverer {navn}."
            ).format(senter=centre.name, navn=display_name(user))
    return ""


@transaction.atomic
def user_deactivate(*, user, by, request=None) -> bool:
    """The user can no longer log in: their sessions stop being accepted at once (Django refuses an
    inactive user's session) and their API tokens are deleted; what they held is let go
    (`user_access_reduced`). Memberships stay, as history. Refused (`UserRefused`) for a centre's last
    active admin (`user_deactivate_refusal`), checked under the centre's admin lock."""
    if not user.is_active:
        return False
    refusal = user_deactivate_refusal(user, lock=True)
    if refusal:
        raise UserRefused(refusal)
    user.is_active = False
    user.save(update_fields=["is_active"])
    AuthToken.objects.filter(user=user).delete()
    audit_record(action=AuditAction.DELETE, object_type="user_access", object_id=user.pk, request=request, user=by,
                 role="admin")  # fmt: skip
    user_access_reduced.send(sender=user_deactivate, user=user, by=by, request=request)
    return True


class MembershipRefused(Refused):
    """The user already holds this role there (400; Norwegian)."""


def membership_held_refusal(*, user_id, role: str, centre=None, municipality=None, apart_from=None,
                            lock: bool = False) -> str:  # fmt: skip
    """ "" unless the user already holds the role at the centre or kommune, else what to do instead
    (Norwegian). A second row of the same role would outlive the first: ending one would leave the
    user the role (the database's unique constraint, NULLs counted equal, refuses it too).
    `apart_from`: the membership being changed. `lock`: first wait for any other writer of the
    user's roles (the user's row, locked to the end of the transaction; `membership_give` takes the
    same lock), so that a form checked and saved in one transaction (the admin's) sees the role a
    simultaneous submit stored, and says so as it would have had the submits come one after the other."""
    if lock:
        get_user_model().objects.select_for_update().filter(pk=user_id).first()
    held = Membership.objects.filter(user_id=user_id, role=role, centre=centre, municipality=municipality)
    if apart_from is not None and apart_from.pk is not None:
        held = held.exclude(pk=apart_from.pk)
    if not held.exists():
        return ""
    return _membership_held_text(role, centre=centre, municipality=municipality)


def _membership_held_text(role: str, *, centre=None, municipality=None) -> str:
    place = centre.name if centre is not None else municipality.name
    return _("Brukeren har allerede rollen {role} i {place}.").format(role=Role(role).label, place=place)


def membership_end_refusal(membership, *, role: str | None = None, centre=None) -> str:
    """ "" unless ending this membership — or changing it into `role` at `centre` — leaves its centre
    without an active centre admin, else what to do instead (Norwegian). No one at the centre could
    then give the role again: only the operators could, from outside the admin."""
    stored = Membership.objects.filter(pk=membership.pk).select_related("centre").first() if membership.pk else None
    if stored is None or stored.role != Role.ADMIN or stored.centre is None:
        return ""
    if role == Role.ADMIN and centre is not None and centre.pk == stored.centre_id:
        return ""  # still the centre's admin
    others = Membership.objects.filter(role=Role.ADMIN, centre=stored.centre, user__is_active=True)
    if others.exclude(pk=stored.pk).exists():
        return ""
    return _(
        "{senter} må ha minst én aktiv senteradministrator: gi rollen til en annen bruker før du fjerner denne."
    ).format(senter=stored.centre.name)


def _centre_admins_lock(membership) -> None:
    """When the stored `membership` is a centre's admin role: waits for any other change of that
    centre's admin roles, and holds them back to the end of the transaction (a lock of the centre's
    own, pg_advisory_xact_lock; the app may not lock the centre's row). Without it two admins who end
    each other's role at the same moment both saw the other still there, and the centre was left with
    none (`membership_end_refusal`, read after it, sees the other's change)."""
    if membership.pk is None:
        return
    stored = Membership.objects.filter(pk=membership.pk, role=Role.ADMIN).exclude(centre=None)
    centre_id = stored.values_list("centre_id", flat=True).first()
    if centre_id is None:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"centre-admins:{centre_id}"])


@transaction.atomic
def membership_give(*, membership, by, request=None):
    """Saves a new or changed membership (the owner's function logs the row); refused
    (`MembershipRefused`) when the user already holds the role there. A centre admin's role opens
    the admin to the user (is_staff), audited as a change of the user. A changed role lets go of
    what the old one held (`user_access_reduced`), as an ended one does."""
    # One writer per user at a time, so two submits of the same role cannot both pass the check.
    get_user_model().objects.select_for_update().filter(pk=membership.user_id).first()
    refusal = membership_held_refusal(user_id=membership.user_id, role=membership.role, centre=membership.centre,
                                      municipality=membership.municipality, apart_from=membership)  # fmt: skip
    if not refusal:
        _centre_admins_lock(membership)
        refusal = membership_end_refusal(membership, role=membership.role, centre=membership.centre)
    if refusal:
        raise MembershipRefused(refusal)
    changed = membership.pk is not None
    try:
        with transaction.atomic():  # a savepoint: the refusal below leaves the caller's transaction usable
            membership.save()
    except IntegrityError as exc:
        # The database's rule behind the check above (a writer that skipped the user's lock): the same
        # refusal, never a server error.
        if getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") != "membership_unique":
            raise
        raise MembershipRefused(
            _membership_held_text(membership.role, centre=membership.centre, municipality=membership.municipality)
        ) from None
    user = membership.user
    if membership.role == Role.ADMIN and not user.is_staff:
        user.is_staff = True
        user_update(user=user, fields=["is_staff"], by=by, request=request)
    if changed:  # a role changed is the old one ended: what the user held in it is let go
        user_access_reduced.send(sender=membership_give, user=user, by=by, request=request)
    return membership


@transaction.atomic
def membership_end(*, membership, by=None, request=None) -> None:
    """Ends a role: the row is deleted through the owner's function, which logs it; what the user
    held in that role is let go (`user_access_reduced`). Refused (`MembershipRefused`) for the
    centre's last active admin (`membership_end_refusal`), checked under the centre's admin lock."""
    _centre_admins_lock(membership)
    refusal = membership_end_refusal(membership)
    if refusal:
        raise MembershipRefused(refusal)
    user = membership.user
    membership.delete()
    user_access_reduced.send(sender=membership_end, user=user, by=by, request=request)


# --- the centre admin: samarbeidsavtaler (tenants/admin.py, the demo's seed) -------------------------
# An agreement is what a centre's nurses' scope and the database's wall are computed from
# (tenants.selectors.user_scope, dho.scope): one that names another centre's kommune opens that
# kommune's patients to this centre. Every agreement is saved through `agreement_save`.


class AgreementRefused(Refused):
    """The samarbeidsavtale would give a kommune's patients to a second centre, or overlap the
    centre's own agreement with the kommune (400; Norwegian)."""


def period_refusal(valid_from: datetime.date, valid_to: datetime.date | None) -> str:
    """ "" when the period's end (none: until further notice) is not before its start, else what is
    wrong (Norwegian): said beside the field, not as the database's check constraint by its name."""
    if valid_to is not None and valid_to < valid_from:
        return _("Til-datoen ({til}) er før fra-datoen ({fra}).").format(til=date_text(valid_to),
                                                                          fra=date_text(valid_from))  # fmt: skip
    return ""


def agreement_refusal(*, centre: Centre, municipality: Municipality, valid_from: datetime.date,
                      valid_to: datetime.date | None = None, apart_from: Agreement | None = None) -> str:  # fmt: skip
    """ "" when the centre may have this agreement with the kommune, else what was wrong (Norwegian).
    A kommune is followed up by one centre at a time: another centre's host kommune is that centre's
    throughout (a host needs no agreement: its centre reaches it by `Centre.host`), and a kommune with
    another centre's agreement in the same period is that centre's then. The centre's own host may
    have a row of its own (billing reads it as the host's follow-up, billing.selectors.cover_for).
    A centre has one agreement with a kommune on any day: a second one for the same days would bill
    them twice (billing counts each day once all the same, billing.calculation.Cover).
    `apart_from`: the agreement being changed."""
    if period_refusal(valid_from, valid_to):
        return period_refusal(valid_from, valid_to)
    if Centre.objects.filter(host=municipality).exclude(pk=centre.pk).exists():
        return _("{kommune} er vertskommune for et annet oppfølgingssenter og følges opp av det.").format(
            kommune=municipality.name
        )
    overlapping = _overlapping(municipality, valid_from, valid_to, apart_from)
    if overlapping.exclude(centre=centre).exists():
        return _("{kommune} har en samarbeidsavtale med et annet oppfølgingssenter i samme periode.").format(
            kommune=municipality.name
        )
    own = overlapping.filter(centre=centre).order_by("valid_from").first()
    if own is not None:
        return _(
            "{kommune} har allerede en samarbeidsavtale med {senter} i samme periode ({periode}): "
            "endre den avtalen, eller la den nye begynne etter at den slutter."
        ).format(kommune=municipality.name, senter=centre.name, periode=_period_text(own))
    return ""


def _overlapping(municipality: Municipality, valid_from: datetime.date, valid_to: datetime.date | None,
                 apart_from: Agreement | None):  # fmt: skip
    """The kommune's agreements (any centre's) that share a day with valid_from–valid_to."""
    overlapping = Agreement.objects.filter(municipality=municipality)
    if apart_from is not None and apart_from.pk is not None:
        overlapping = overlapping.exclude(pk=apart_from.pk)
    overlapping = overlapping.filter(Q(valid_to__isnull=True) | Q(valid_to__gte=valid_from))
    if valid_to is not None:
        overlapping = overlapping.filter(valid_from__lte=valid_to)
    return overlapping


def _period_text(agreement: Agreement) -> str:
    if agreement.valid_to is None:
        return _("fra {fra}, uten sluttdato").format(fra=date_text(agreement.valid_from))
    return _("{fra}–{til}").format(fra=date_text(agreement.valid_from), til=date_text(agreement.valid_to))


@transaction.atomic
def agreement_save(*, agreement: Agreement) -> Agreement:
    """Saves a new or changed samarbeidsavtale (the owner's function logs the row); refused
    (`AgreementRefused`) when it would give the kommune to a second centre or overlap the centre's
    own agreement with it (`agreement_refusal`)."""
    # One writer per kommune at a time, so two overlapping agreements cannot both pass the check.
    Municipality.objects.select_for_update().filter(pk=agreement.municipality_id).first()
    refusal = agreement_refusal(centre=agreement.centre, municipality=agreement.municipality,
                                valid_from=agreement.valid_from, valid_to=agreement.valid_to,
                                apart_from=agreement)  # fmt: skip
    if refusal:
        raise AgreementRefused(refusal)
    agreement.save()
    return agreement
