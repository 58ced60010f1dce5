"""How a delivery's state reads, in Norwegian, wherever it is shown: beside the note on the patient
page (journaling/patient_page.py), on the centre admin's page and in the API's `error`. One place, so
the nurse, the admin and an API client read the same words."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from tenants.norwegian import date_text, datetime_text, time_text
from triage.models import ContactKind

from .models import Delivery, DeliveryState

RETRY_SAYS = " Prøver igjen "  # how services._failed ends a failed row's last_error


@dataclass(frozen=True)
class StateText:
    """`label` («Sendt», «Mottatt», «Journalført», «Feilet» …), `when` it got there, `detail` (a failed
    row's reason and next try, a stopped row's reason and «trenger oppfølging»), `tone` (the page's
    colour class) and `needs_person` (stopped: the centre admin must look)."""

    label: str
    when: datetime.datetime | None
    detail: str
    tone: str
    needs_person: bool = False


def retry_text(at: datetime.datetime, now: datetime.datetime | None = None) -> str:
    """«kl. 14:05» today, «06.12.2026 kl. 14:05» another day."""
    at = timezone.localtime(at)
    today = timezone.localdate(now) if now else timezone.localdate()
    return f"kl. {time_text(at)}" if at.date() == today else datetime_text(at, kl=True)


def reason_of(delivery: Delivery) -> str:
    """The error without the next try that services._failed adds (the page says it on its own)."""
    reason = delivery.last_error or ""
    if delivery.state == DeliveryState.FAILED and RETRY_SAYS in reason:
        reason = reason.rsplit(RETRY_SAYS, 1)[0]
    return reason.strip()


def state_text(delivery: Delivery, now: datetime.datetime | None = None) -> StateText:
    state = delivery.state
    if state == DeliveryState.JOURNALED:
        return StateText("Journalført", delivery.journaled_at, "", "band-green")
    if state in (DeliveryState.REGISTERED, DeliveryState.READ):
        return StateText("Mottatt", delivery.read_at or delivery.registered_at, "", "")
    if state == DeliveryState.SENT:
        return StateText("Sendt", delivery.sent_at, "", "")
    if state == DeliveryState.FAILED:
        detail = f"prøver igjen {retry_text(delivery.next_try_at, now)}"
        reason = reason_of(delivery)
        return StateText("Feilet", delivery.updated_at, f"{reason} ({detail})" if reason else detail, "band-yellow")
    if state == DeliveryState.DEAD:
        reason = reason_of(delivery) or "Sendingen er stoppet."
        return StateText("Feilet", delivery.updated_at, f"{reason} Trenger oppfølging.", "band-red", needs_person=True)
    return StateText("Venter på sending", delivery.created_at, "", "")


def source_text(delivery: Delivery) -> str:
    """What was sent, without the patient: «Journalnotat (varsel) 06.12.2026 08:15», «Rutinekontakt …»."""
    if delivery.journal_note is not None:
        return f"Journalnotat (varsel) {datetime_text(delivery.journal_note.created_at)}"
    if delivery.contact is not None:
        kind = ContactKind(delivery.contact.kind).label
        return f"{kind} {datetime_text(delivery.contact.at)}"
    return f"Sending {date_text(delivery.created_at)}"


def outcome_lines(outcome: Any) -> list[str]:
    """The receiver's OperationOutcome (or the problems our own validation found), one line per
    issue, as the centre admin reads them: what was wrong, and where."""
    if not isinstance(outcome, dict):
        return []
    lines = []
    if outcome.get("resourceType") == "OperationOutcome":
        for issue in outcome.get("issue") or []:
            if not isinstance(issue, dict):
                continue
            details = issue.get("details") if isinstance(issue.get("details"), dict) else {}
            text = str(issue.get("diagnostics") or details.get("text") or issue.get("code") or "")
            where = ", ".join(str(e) for e in issue.get("expression") or issue.get("location") or [])
            if text:
                lines.append(f"{where}: {text}" if where else text)
    for problem in outcome.get("problems") or []:
        if isinstance(problem, dict):
            lines.append(f"{problem.get('path', '')}: {problem.get('message', '')}".strip(": "))
    return lines
