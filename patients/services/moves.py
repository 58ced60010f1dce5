"""«Mulig flytting»: moving a person between kommuner takes the yes of the side that has the record.

A kommune that grants a person who has a record elsewhere gets a record of its own, holding only what
it entered (`referrals._patient_for_grant`); its answers are the same as for an unknown person, so
a grant is no oracle for whether someone is followed up anywhere. Each other record of that national
id gets a MoveNotice on its side's board and worklist: the requesting kommune and the date, nothing
else. Until that side answers, nothing of its record moves or closes.

- decline: the notice is closed; the two records stay apart (ingest by fødselsnummer then picks the
  one with an active forløp, measurements.services).
- accept: the record moves with its history, as one person keeps one record:
  1. its forløp, if active or paused, ends «flyttet» on the accepted date (its open alerts close
     with the end, as for any end; the alerts and the loans still out are listed on the accept
     page, named in the audit log and in the notice to the other side);
  2. the requesting kommune's own record is merged into it: its henvisning, samtykke, oppstart and
     loans point to the moved record, which takes over that forløp's status (a `granted` or
     `started` row on the accepted date); the own record ends and keeps its append-only rows, marked
     `merged_into`;
  3. the record's municipality becomes the requesting one and a `moved` row names the old one;
  4. the requesting side gets a notice «flytting godtatt».
Both sides' rows are touched, so accepting runs in a named, audited system scope; only a user who
may change the record's forløp (its kommune's nurse or koordinator) can accept or decline.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from patients.access import can_answer_move, require
from patients.models import (
    Consent,
    DeviceLoan,
    EndReason,
    MoveKind,
    MoveNotice,
    MoveState,
    Patient,
    PatientStatus,
    Referral,
    Start,
    StatusEvent,
)
from patients.services.status import StatusRoleRequired, referral_change_record
from tenants.errors import Refused
from tenants.models import AuditAction
from tenants.rls import system_scope
from tenants.services import audit_record


class MoveRefused(Refused):
    """The answer cannot be given as asked (message in Norwegian, safe to show; the API's 400)."""


def move_notices_raise(*, own: Patient, user, request=None) -> list[MoveNotice]:
    """The requesting side has just created `own`: every other record of the person gets a notice.
    A read and a write beyond the user's reach, so in a named system scope; the user learns nothing
    of it (their answer is built before and does not depend on it)."""
    with system_scope("patients.move_notice"):
        elsewhere = Patient.objects.filter(national_id=own.national_id, merged_into=None).exclude(pk=own.pk)
        notices = [
            MoveNotice.objects.create(
                municipality_id=other.municipality_id,
                patient=other,
                other_municipality_id=own.municipality_id,
                incoming_patient=own,
                requested_on=timezone.localdate(),
            )
            for other in elsewhere
        ]
        for notice in notices:
            audit_record(action=AuditAction.CREATE, object_type="move_notice", object_id=notice.pk,
                         patient=notice.patient, request=request, user=user)  # fmt: skip
    return notices


def _open_notice(notice: MoveNotice, user) -> MoveNotice:
    require(can_answer_move, user, notice.patient, StatusRoleRequired(ANSWER_ROLE_REFUSED))
    notice = MoveNotice.objects.select_for_update(of=("self",)).get(pk=notice.pk)
    if notice.kind != MoveKind.REQUEST or notice.state != MoveState.OPEN:
        raise MoveRefused("Flyttingen er allerede besvart.")
    return notice


@transaction.atomic
def move_decline(*, notice: MoveNotice, user, request=None) -> MoveNotice:
    """The two records stay apart; nothing of either changes."""
    notice = _open_notice(notice, user)
    notice.state, notice.decided_by, notice.decided_at = MoveState.DECLINED, user, timezone.now()
    notice.save(update_fields=["state", "decided_by", "decided_at"])
    audit_record(action=AuditAction.UPDATE, object_type="move_notice", object_id=notice.pk, patient=notice.patient,
                 request=request, user=user)  # fmt: skip
    return notice


@transaction.atomic
def move_accept(*, notice: MoveNotice, user, request=None) -> Patient:
    """The module docstring's accept, in one transaction."""
    notice = _open_notice(notice, user)
    patient = notice.patient
    with system_scope("patients.move_accept"):
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        incoming = notice.incoming_patient_id  # a request names the record it brings; without one, nothing to merge
        own = (
            None
            if incoming is None
            else Patient.objects.select_for_update().filter(pk=incoming, merged_into=None).first()
        )
        if own is None or own.municipality_id != notice.other_municipality_id:
            raise MoveRefused("Den andre kommunens journal finnes ikke lenger; flyttingen kan ikke gjennomføres.")
        on = timezone.localdate()
        handed_over = _hand_over(patient, on, user, request)
        _end_old_forlop(patient, notice, on, user, request)
        carried = _merge(own=own, into=patient, on=on, user=user, request=request)
        patient.refresh_from_db()
        _move_record(patient, notice, carried, on, user, request)
        _close(notice, user, handed_over, request)
    return patient


def _hand_over(patient: Patient, on: datetime.date, user, request) -> dict:
    """What goes with the person, named in the log and the notice: the open alerts (they close with
    the end) and the devices still out (they stay lent to the person; the centre takes them back)."""
    loans = list(DeviceLoan.objects.filter(patient=patient, returned_on=None).values_list("device__serial", flat=True))
    audit_record(action=AuditAction.UPDATE, object_type="move_hand_over", object_id=",".join(loans)[:64] or None,
                 patient=patient, request=request, user=user)  # fmt: skip
    return {"loans": loans}


def _end_old_forlop(patient: Patient, notice: MoveNotice, on: datetime.date, user, request) -> None:
    if patient.status not in (PatientStatus.ACTIVE, PatientStatus.PAUSED):
        return
    old_referral = patient.referrals.filter(municipality_id=patient.municipality_id).order_by("-created_at").first()
    referral_change_record(
        referral=old_referral, patient=patient, municipality_id=patient.municipality_id, event=StatusEvent.ENDED,
        end_reason=EndReason.MOVED, effective_date=on, user=user, request=request,
        note=f"Flyttet til {notice.other_municipality.name}",
    )  # fmt: skip
    patient.refresh_from_db()


def _merge(*, own: Patient, into: Patient, on: datetime.date, user, request) -> tuple:
    """The requesting kommune's forløp goes over to the moved record; `own` ends, marked merged.
    Answers the status that forløp had (with a pause's until-date) and its referral, which the moved
    record carries on.
    (A plan made for `own` stays with it: plans live above this app, and the record that moves
    keeps its own approved plan.)"""
    status, until = own.status, own.status_until
    referral = own.referrals.order_by("-created_at").first()
    Referral.objects.filter(patient=own).update(patient=into)
    Consent.objects.filter(patient=own).update(patient=into)
    Start.objects.filter(patient=own).update(patient=into)
    DeviceLoan.objects.filter(patient=own).update(patient=into)
    if own.gp_id and not into.gp_id:
        into.gp_id = own.gp_id
        into.save(update_fields=["gp"])
    own.merged_into = into
    own.save(update_fields=["merged_into"])
    referral_change_record(referral=None, patient=own, event=StatusEvent.ENDED, end_reason=EndReason.MOVED,
                           effective_date=on, user=user, request=request,
                           note="Slått sammen med journalen som flyttet hit")  # fmt: skip
    return status, until, referral


def _move_record(patient: Patient, notice: MoveNotice, carried: tuple, on: datetime.date, user, request) -> None:
    status, until, referral = carried
    old = patient.municipality_id
    patient.municipality_id = notice.other_municipality_id
    patient.save(update_fields=["municipality"])
    audit_record(action=AuditAction.UPDATE, object_type="patient", object_id=patient.pk, patient=patient,
                 request=request, user=user)  # fmt: skip
    referral_change_record(referral=None, patient=patient, event=StatusEvent.MOVED, previous_municipality_id=old,
                           effective_date=on, user=user, request=request)  # fmt: skip
    event = {PatientStatus.PENDING: StatusEvent.GRANTED, PatientStatus.ACTIVE: StatusEvent.STARTED,
               PatientStatus.PAUSED: StatusEvent.STARTED}.get(status)  # fmt: skip
    if event is not None:  # after the move row, so the status is the new kommune's forløp
        referral_change_record(referral=referral, patient=patient, event=event, effective_date=on, user=user,
                               request=request, note="Forløpet i kommunen før flyttingen ble godtatt")  # fmt: skip
    if status == PatientStatus.PAUSED and until is not None and until > on:
        # A paused forløp carries on paused, to the same date: billing counts its days at the pause's
        # share, and the silence checks stay off until then, as they were before the move.
        referral_change_record(referral=None, patient=patient, event=StatusEvent.PAUSED, until=until,
                               effective_date=on, user=user, request=request,
                               note="Pausen i kommunen før flyttingen ble godtatt")  # fmt: skip


def _close(notice: MoveNotice, user, handed_over: dict, request) -> None:
    notice.state, notice.decided_by, notice.decided_at = MoveState.ACCEPTED, user, timezone.now()
    notice.save(update_fields=["state", "decided_by", "decided_at"])
    told = MoveNotice.objects.create(
        municipality_id=notice.other_municipality_id, patient_id=notice.patient_id, kind=MoveKind.ACCEPTED,
        other_municipality_id=notice.municipality_id, requested_on=notice.requested_on, decided_by=user,
        decided_at=notice.decided_at,
    )  # fmt: skip
    for row in (notice, told):
        audit_record(action=AuditAction.UPDATE if row is notice else AuditAction.CREATE, object_type="move_notice",
                     object_id=row.pk, patient=notice.patient, request=request, user=user)  # fmt: skip


@transaction.atomic
def move_notice_seen(*, notice: MoveNotice, user, request=None) -> MoveNotice:
    """The requesting side has read «flytting godtatt»: it leaves the board."""
    require(
        can_answer_move,
        user,
        notice.patient,
        StatusRoleRequired("Bare sykepleiere og koordinatorer for pasienten kan kvittere for meldingen."),
    )
    if notice.kind != MoveKind.ACCEPTED or notice.state != MoveState.OPEN:
        raise MoveRefused("Meldingen er allerede lest.")
    notice.state = MoveState.SEEN
    notice.save(update_fields=["state"])
    audit_record(action=AuditAction.UPDATE, object_type="move_notice", object_id=notice.pk, patient=notice.patient,
                 request=request, user=user)  # fmt: skip
    return notice


ANSWERS = {"accept": move_accept, "decline": move_decline, "seen": move_notice_seen}
ANSWER_ROLE_REFUSED = "Bare sykepleiere og koordinatorer for pasienten kan svare på en flytting."


def move_answer(*, notice: MoveNotice, answer: str, user, request=None):
    """One entry for the page and the API: accept, decline, or «seen» for «flytting godtatt»."""
    if answer not in ANSWERS:
        raise MoveRefused("Ukjent svar: velg godta, avslå eller merk som lest.")
    return ANSWERS[answer](notice=notice, user=user, request=request)
