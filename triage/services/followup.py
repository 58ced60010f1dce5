"""The nurses' follow-up: taking an alert, handling it (which writes its journal note), the planned
contacts and an evaluation's contact row. Every rule about who may do it is checked here, so a page or
API endpoint added later cannot skip it; views only turn the exceptions into messages and status codes."""

from __future__ import annotations

import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from patients.access import NurseRequired, can_follow_up, require
from tenants.errors import Refused, Stale
from tenants.models import AuditAction
from tenants.norwegian import day_text, time_text
from tenants.people import display_name
from tenants.rls import system_scope
from tenants.services import audit_record
from triage.journal import journal_document, journal_text
from triage.models import (
    Alert,
    AlertColour,
    AlertEventKind,
    AlertStatus,
    Contact,
    ContactAction,
    ContactKind,
    JournalNote,
)
from triage.services.alerts import events_record

HANDLED = "Håndtert"

# Sent inside the transaction that writes the row, for the apps above triage (journaling's outbox
# writes its row in the same transaction): `journal_note_written(note=…)` when a handled alert's
# journal note is written, `contact_recorded(contact=…)` for every contact (the receiver decides
# which of them it sends).
journal_note_written = Signal()
contact_recorded = Signal()


class AlertRefused(Refused):
    """The step cannot be taken (message in Norwegian, safe to show)."""


class AlertChanged(Stale, AlertRefused):
    """The alert is not as the nurse saw it when the step was asked (a 409 in the API)."""


# «Varselet er nå rødt»: the colour as the neuter «varsel» takes it.
_COLOUR_NEUTER: dict[str, str] = {AlertColour.YELLOW: "gult", AlertColour.RED: "rødt"}


def _require_nurse(user, patient, message: str) -> None:
    """The patient's nurse only (patients.access.can_follow_up); the message names the step."""
    require(can_follow_up, user, patient, NurseRequired(message))


def _audit_alert(action, alert: Alert, user, request, object_type: str = "alert", object_id=None) -> None:
    audit_record(
        action=action,
        object_type=object_type,
        object_id=object_id or alert.pk,
        patient=alert.patient,
        request=request,
        user=user,
    )


def _locked_open_alert(alert: Alert, user) -> Alert:
    """The alert, locked, when it is still open and not someone else's."""
    alert = Alert.objects.select_for_update(of=("self",)).select_related("patient", "taken_by").get(pk=alert.pk)
    if alert.status != AlertStatus.OPEN:
        raise AlertRefused("Varselet er allerede håndtert.")
    if alert.taken_by is not None and alert.taken_by_id != user.id:  # taken_by: selected with the alert
        name = display_name(alert.taken_by)
        raise AlertRefused(f"{name} har allerede tatt dette varselet.")
    return alert


def _require_as_seen(alert: Alert, seen_colour: str | None) -> None:
    """The alert (locked) still has the colour the nurse saw on the handle page, whose EBP actions
    were followed: a red raised meanwhile is not closed on yellow advice, nor journaled with a red
    reading nobody looked at. The colour only, not `updated_at`: a new finding of the same colour (the
    patient measuring again, often when asked to during the very call) leaves the actions as they
    were, and refusing it would send the nurse round again for nothing. A colour only ever rises
    (alerts._alerts_raise), so it tells a raise as surely as `raised_at`, and an API client has it
    from the alert list. Closed meanwhile (by data, by the forløp's end, by another nurse) or taken by
    someone else is refused before this (_locked_open_alert). None: an API client that does not send
    it, handled as before."""
    if seen_colour and seen_colour != alert.colour:
        now = _COLOUR_NEUTER[alert.colour]
        raise AlertChanged(f"Varselet er endret siden du åpnet det (nå {now}): se over og følg opp på nytt.")


@transaction.atomic
def alert_take(*, alert: Alert, user, request=None) -> Alert:
    """«Jeg tar denne»: the first nurse to take it has it; a second is told who."""
    _require_nurse(user, alert.patient, "Bare sykepleiere som følger opp pasienten kan ta varsler.")
    alert = _locked_open_alert(alert, user)
    now = timezone.now()
    newly_taken = alert.taken_by_id != user.id
    alert.taken_by, alert.taken_at = user, now
    alert.save(update_fields=["taken_by", "taken_at"])
    if newly_taken:
        events_record([alert], AlertEventKind.TAKEN, now, by=user)
    _audit_alert(AuditAction.UPDATE, alert, user, request)
    return alert


@transaction.atomic
def alert_release(*, alert: Alert, user, request=None) -> Alert:
    """«Slipp»: a taken alert goes back to untaken, for anyone on the worklist to take. The nurse who
    took it may release it, and so may another nurse following the patient up: a nurse who took it
    by mistake and went off shift must not leave it held by no one at work. Who released it, and
    whose it was, go into its history (the event's reason) and the audit log."""
    _require_nurse(user, alert.patient, "Bare sykepleiere som følger opp pasienten kan slippe varsler.")
    alert = Alert.objects.select_for_update(of=("self",)).select_related("patient", "taken_by").get(pk=alert.pk)
    if alert.status != AlertStatus.OPEN:
        raise AlertRefused("Varselet er allerede håndtert og kan ikke slippes.")
    if alert.taken_by is None:  # selected with the alert
        raise AlertRefused("Varselet er ikke tatt av noen; det er ingenting å slippe.")
    holder = display_name(alert.taken_by)
    now = timezone.now()
    alert.taken_by, alert.taken_at = None, None  # a «try again from» time stays: it is the patient's
    alert.save(update_fields=["taken_by", "taken_at"])
    events_record([alert], AlertEventKind.RELEASED, now, by=user, reason=f"Sluppet (var tatt av {holder})")
    _audit_alert(AuditAction.UPDATE, alert, user, request)
    return alert


@transaction.atomic
def alerts_release_unfollowed(*, user, by=None, request=None) -> list[Alert]:
    """The open alerts `user` took and may no longer follow up — deactivated, or their nurse role
    there ended — are let go for anyone on the worklist to take (a taken alert offers the others no
    «Jeg tar denne», and only its taker may handle it). Each gets a «Sluppet» event naming whose it
    was and why, and an audit event. Every kommune's: a user is deactivated everywhere at once."""
    holder = get_user_model().objects.filter(pk=user.pk).first()  # fresh: the roles as they are now
    if holder is None:
        return []
    with system_scope("triage.release_unfollowed"):
        held = list(
            Alert.objects.select_for_update(of=("self",))
            .select_related("patient")
            .filter(taken_by_id=holder.pk, status=AlertStatus.OPEN)
            .order_by("pk")
        )
        released = [alert for alert in held if not can_follow_up(holder, alert.patient)]
        if not released:
            return []
        why = "er deaktivert" if not holder.is_active else "følger ikke lenger opp pasienten"
        reason = f"Sluppet ({display_name(holder)} {why}; ledig for alle på arbeidslisten)"
        Alert.objects.filter(pk__in=[a.pk for a in released]).update(taken_by=None, taken_at=None)
        for alert in released:
            alert.taken_by, alert.taken_at = None, None
        events_record(released, AlertEventKind.RELEASED, timezone.now(), by=by, reason=reason)
        for alert in released:
            audit_record(action=AuditAction.UPDATE, object_type="alert", object_id=alert.pk, patient=alert.patient,
                         request=request, user=by, role="admin" if by is not None else "",
                         system="" if by is not None else "triage.release_unfollowed")  # fmt: skip
    return released


def _keep_open(alert: Alert, user, retry_at, now) -> None:
    """Not reached: the alert stays open, taken by this nurse, with a time to try again."""
    alert.taken_by, alert.taken_at = user, alert.taken_at or now
    alert.retry_at = retry_at or now + datetime.timedelta(hours=1)
    alert.save(update_fields=["taken_by", "taken_at", "retry_at"])
    retry = timezone.localtime(alert.retry_at)
    reason = f"Nytt forsøk fra {day_text(retry)} {time_text(retry)}"
    events_record([alert], AlertEventKind.NOT_REACHED, now, by=user, reason=reason)


def _close_handled(alert: Alert, user, contact: Contact, now) -> None:
    alert.status, alert.closed_at, alert.closed_reason = AlertStatus.CLOSED, now, HANDLED
    alert.handled_by, alert.handled_at = user, now
    alert.seconds_to_handle = int((now - alert.opened_at).total_seconds())
    alert.save(update_fields=["status", "closed_at", "closed_reason", "handled_by", "handled_at", "seconds_to_handle"])
    events_record([alert], AlertEventKind.HANDLED, now, by=user, reason=HANDLED)
    journal_note_create(alert=alert, contact=contact)


def handle_problems(actions, retry_at=None, now=None) -> dict[str, str]:
    """What is wrong with a handling as asked, by field («actions», «retry_at»): the rules the handle
    page and the API answer alike (triage.forms.HandleForm, triage.api.AlertHandleInSerializer), and
    that alert_handle refuses by. Empty when nothing is."""
    problems: dict[str, str] = {}
    chosen = set(actions or [])
    if not chosen:
        problems["actions"] = "Velg minst ett tiltak."
    elif {ContactAction.CALLED_REACHED, ContactAction.CALLED_NOT_REACHED} <= chosen:
        problems["actions"] = "Velg enten «fikk svar» eller «fikk ikke svar», ikke begge."
    if retry_at and ContactAction.CALLED_NOT_REACHED not in chosen:
        problems["retry_at"] = "Nytt forsøk settes bare når pasienten ikke ble nådd."
    elif retry_at and retry_at < (now or timezone.now()):
        problems["retry_at"] = "Tidspunktet for nytt forsøk har allerede vært."
    return problems


@transaction.atomic
def alert_handle(
    *, alert: Alert, user, actions: list[str], note: str = "", retry_at=None, seen_colour=None, request=None
) -> Contact:
    """Record what was done. Handling closes the alert and writes its journal note; «not reached»
    keeps it open, taken by this nurse, with a time to try again. `seen_colour`, the alert's colour
    when the nurse opened it, refuses the step (AlertChanged) if it has been raised since."""
    _require_nurse(user, alert.patient, "Bare sykepleiere som følger opp pasienten kan håndtere varsler.")
    alert = _locked_open_alert(alert, user)
    _require_as_seen(alert, seen_colour)
    now = timezone.now()
    if problems := handle_problems(actions, retry_at, now):
        raise AlertRefused(" ".join(problems.values()))
    contact = _contact_create(
        alert.patient, user, ContactKind.ALERT, actions, note, alert=alert, at=now, retry_at=retry_at
    )
    if ContactAction.CALLED_NOT_REACHED in actions:
        _keep_open(alert, user, retry_at, now)
    else:
        _close_handled(alert, user, contact, now)
    _audit_alert(AuditAction.UPDATE, alert, user, request)
    _audit_alert(AuditAction.CREATE, alert, user, request, object_type="contact", object_id=contact.pk)
    return contact


def _contact_create(patient, user, kind, actions, note, *, alert=None, at=None, retry_at=None) -> Contact:
    contact = Contact.objects.create(
        patient=patient,
        municipality_id=patient.municipality_id,
        alert=alert,
        kind=kind,
        actions=list(actions),
        note=(note or "").strip(),
        by=user,
        at=at or timezone.now(),
        retry_at=retry_at,
    )
    contact_recorded.send(sender=Contact, contact=contact)
    return contact


@transaction.atomic
def contact_record(*, patient, user, kind: str, actions: list[str], note: str = "", request=None) -> Contact:
    """A contact outside an alert: a planned one from the follow-up lists (routine, evaluation), or
    one at any time from the patient page (the patient called in, a routine call made early) — nothing
    needs to be due. A routine contact that reached the patient counts as the last contact for the
    next routine one (selectors.follow_up_due)."""
    _require_nurse(user, patient, "Bare sykepleiere som følger opp pasienten kan registrere kontakter.")
    if not actions and not (note or "").strip():
        raise AlertRefused("Velg et tiltak eller skriv et notat.")
    contact = _contact_create(patient, user, kind, actions, note)
    audit_record(
        action=AuditAction.CREATE, object_type="contact", object_id=contact.pk, patient=patient, request=request
    )
    return contact


def journal_note_create(*, alert: Alert, contact: Contact) -> JournalNote:
    """The structured note of a handled alert (fields of the VKP-DHO guide) and its text."""
    document = journal_document(alert, contact)
    note = JournalNote.objects.create(
        patient=alert.patient,
        municipality_id=alert.municipality_id,
        alert=alert,
        contact=contact,
        document=document,
        text=journal_text(document),
    )
    journal_note_written.send(sender=JournalNote, note=note)
    return note


# --- evaluering: the forløp's evaluation is patients' (patients.services.evaluation_record) -----------


def evaluation_contact_record(*, patient, user, text: str, request=None) -> Contact:
    """The contact log's row of an evaluation (kind evaluation, the evaluation's text as its note):
    triage's part of patients' evaluation, written by its receiver in triage/signals.py inside the
    evaluation's transaction. It settles the evaluation on the follow-up list (selectors.follow_up_due)."""
    contact = _contact_create(patient, user, ContactKind.EVALUATION, [], text)
    audit_record(
        action=AuditAction.CREATE, object_type="contact", object_id=contact.pk, patient=patient, request=request,
        user=user,
    )  # fmt: skip
    return contact
