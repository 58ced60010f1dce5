"""Writes of the triage app, one module per concern:

- `scoring`  – scoring stored readings and answers in batches (the pure rules are `triage.scoring`)
- `alerts`   – opening, raising and closing alerts, each change an `AlertEvent` row
- `silence`  – the missing-measurement, missing-answer and inactive-patient checks
- `followup` – the nurses' follow-up: take, handle (journal note), planned contacts, an evaluation's contact row

The names callers use are re-exported here.
"""

from triage.services.alerts import Finding, alerts_upsert, events_record, silence_alerts_close
from triage.services.followup import (
    AlertChanged,
    AlertRefused,
    alert_handle,
    alert_release,
    alert_take,
    alerts_release_unfollowed,
    contact_record,
    contact_recorded,
    evaluation_contact_record,
    handle_problems,
    journal_note_create,
    journal_note_written,
)
from triage.services.scoring import NO_PLAN, SWEEP_AFTER, answers_score, readings_score, unscored_ids
from triage.services.silence import silence_alerts_open

__all__ = [
    "NO_PLAN",
    "SWEEP_AFTER",
    "AlertChanged",
    "AlertRefused",
    "Finding",
    "alert_handle",
    "alert_release",
    "alert_take",
    "alerts_release_unfollowed",
    "alerts_upsert",
    "answers_score",
    "contact_record",
    "contact_recorded",
    "evaluation_contact_record",
    "events_record",
    "handle_problems",
    "journal_note_create",
    "journal_note_written",
    "readings_score",
    "silence_alerts_close",
    "silence_alerts_open",
    "unscored_ids",
]
