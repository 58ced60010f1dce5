"""Evaluering of the forløp: it continues with a new date, the plan is adjusted, or it ends. patients
writes its own part (the `evaluated` row, the next date, the `ended` row) and sends
`evaluation_recorded` inside the same transaction; the apps above it do theirs as receivers — triage
logs the evaluation as a contact (`triage/signals.py`), ebp opens a plan draft on «adjust»
(`ebp/signals.py`) — so that patients imports nothing above it."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from patients.access import can_change_status, require
from patients.extensions import plan_may_edit
from patients.models import EndReason, Patient, StatusChange, StatusEvent
from patients.services.oppstart import evaluation_next_set
from patients.services.status import STATUS_ROLE_REQUIRED, StatusRefused, StatusRoleRequired, status_change_record
from tenants.errors import NotAllowed
from tenants.norwegian import date_text, datetime_text
from tenants.people import display_name

# Sent inside the transaction of an evaluation, after its `evaluated` row (sender=Evaluation,
# evaluation=…, patient, user, outcome, text, request): a receiver does its app's part and puts what
# it wrote on the evaluation (triage: `contact`; ebp: `draft`). A refusal it raises undoes it all.
evaluation_recorded = Signal()

PLAN_NURSE_REQUIRED = "Bare sykepleiere som følger opp pasienten kan endre egenbehandlingsplanen."


class EvaluationOutcome:
    CONTINUE = "continue"  # the forløp goes on; a new evaluation date
    ADJUST = "adjust"  # goes on (a new date) with a plan to adjust: a draft is opened for the nurse
    END = "end"  # the forløp ends (end reason as for avslutning)
    LABELS = {CONTINUE: "Fortsetter", ADJUST: "Planen justeres", END: "Avsluttes"}


class AdjustRefused(NotAllowed):
    """Only the one who may draft the patient's plan (a nurse who follows the patient up) evaluates
    with «adjust» (a 403 wherever it is raised; the page tells why above the form)."""


# The same evaluation twice: an `evaluated` row of the forløp with the same outcome and next date,
# written this short while ago. Two clicks on «Registrer evaluering» (or a form sent again) would
# otherwise write two rows, two contacts and, on «adjust», ask for a second draft; a real second
# evaluation of the same forløp with the same outcome and date minutes after the first is not one.
EVALUATION_REPEAT_WINDOW = datetime.timedelta(minutes=10)


def _evaluation_repeat_refusal(patient, summary: str) -> str | None:
    """What to say when the same evaluation (its outcome and next date: the start of the row's note)
    was just recorded; read under the patient's lock (`evaluation_record`), so of two simultaneous
    submits the second sees the first."""
    since = timezone.now() - EVALUATION_REPEAT_WINDOW
    recent = StatusChange.objects.filter(patient=patient, event=StatusEvent.EVALUATED, at__gte=since)
    same = recent.filter(note__startswith=f"{summary}.").select_related("by").order_by("-at").first()
    if same is None:
        return None
    what = summary.replace(". Neste", ", neste")
    by = f" av {display_name(same.by)}" if same.by_id else ""
    return (
        f"Denne evalueringen ({what}) ble registrert {datetime_text(same.at, kl=True)}{by}. "
        "Den er ikke registrert på nytt."
    )


@dataclass
class Evaluation:
    change: StatusChange  # the `evaluated` row
    contact: Any = None  # the contact log's row (triage's receiver writes it)
    draft: Any = None  # «adjust»: the open plan draft (ebp's receiver opens it)
    ended: StatusChange | None = None  # «end»: the `ended` row


def _evaluation_refusal(outcome: str, next_date, end_reason: str) -> str | None:
    if outcome not in EvaluationOutcome.LABELS:
        return "Velg utfallet av evalueringen: fortsette, justere planen eller avslutte."
    if outcome != EvaluationOutcome.END and next_date is None:
        return "Oppgi datoen for neste evaluering når forløpet fortsetter."
    if next_date is not None and next_date <= timezone.localdate():
        return "Neste evaluering må være etter i dag."
    if outcome == EvaluationOutcome.END and end_reason not in EndReason.values:
        return "Velg en årsak til avslutningen."
    return None


@transaction.atomic
def evaluation_record(
    *,
    patient,
    user,
    outcome: str,
    next_date: datetime.date | None = None,
    end_reason: str = "",
    note: str = "",
    request=None,
) -> Evaluation:
    """An evaluation of the forløp by the patient's nurse or koordinator: an `evaluated` status row
    (its note names the outcome and the next date), the receivers of `evaluation_recorded` (the
    contact log, the plan draft on «adjust»), and by outcome a new evaluation date (continue, adjust)
    or the `ended` row (end). Refusals raise StatusRefused (400); «adjust» by someone who may not
    draft the plan raises AdjustRefused (403) before anything is written."""
    refusal = _evaluation_refusal(outcome, next_date, end_reason)
    if refusal:
        raise StatusRefused(refusal)
    if outcome == EvaluationOutcome.ADJUST and not plan_may_edit(user, patient):
        raise AdjustRefused(PLAN_NURSE_REQUIRED)
    summary = EvaluationOutcome.LABELS[outcome]
    if outcome != EvaluationOutcome.END and next_date is not None:  # the refusal above asks for it
        summary += f". Neste evaluering {date_text(next_date)}"
    # Who may record it is asked before anything is read of the forløp's evaluations (the status row asks again).
    require(can_change_status, user, patient, StatusRoleRequired(STATUS_ROLE_REQUIRED))
    Patient.objects.select_for_update().filter(pk=patient.pk).first()  # one evaluation at a time per forløp
    repeat = _evaluation_repeat_refusal(patient, summary)
    if repeat:
        raise StatusRefused(repeat)
    text = f"{summary}. {(note or '').strip()}".strip()
    change = status_change_record(patient=patient, user=user, event=StatusEvent.EVALUATED, note=text, request=request)
    result = Evaluation(change=change)
    evaluation_recorded.send(
        sender=Evaluation, evaluation=result, patient=patient, user=user, outcome=outcome, text=text, request=request
    )
    if outcome != EvaluationOutcome.END:
        evaluation_next_set(patient=patient, next_date=next_date, user=user, request=request)
    if outcome == EvaluationOutcome.END:
        result.ended = status_change_record(
            patient=patient, user=user, event=StatusEvent.ENDED, end_reason=end_reason, note=(note or "").strip(),
            request=request,
        )  # fmt: skip
    return result
