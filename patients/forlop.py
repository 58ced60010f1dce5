"""The forløp's rules as data and pure functions (no queries): which next steps each status offers
(the state table), and when an evaluation falls due. The services' refusals, the patient page's
«Forløp» buttons (`{% forlop_steps %}` in patients_tags), the selectors of patients and triage's
follow-up lists all read these."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from patients.models import PatientStatus, StatusEvent

# --- the state table: which next steps each status offers ---------------------------------------------


@dataclass(frozen=True)
class Step:
    """A step of the forløp a status offers: its page (URL name, with the patient's id), the
    button's label, and the status row it writes (None: samtykke writes no status row)."""

    key: str
    url_name: str
    label: str
    event: StatusEvent | None


CONSENT = Step("consent", "patients:consent", _("Registrer samtykke"), None)
START = Step("start", "patients:start", _("Oppstart"), StatusEvent.STARTED)
NEW_START = Step("start", "patients:start", _("Ny oppstart"), StatusEvent.STARTED)
PAUSE = Step("pause", "patients:pause", _("Sett på pause"), StatusEvent.PAUSED)
RESUME = Step("resume", "patients:resume", _("Gjenoppta"), StatusEvent.RESUMED)
EVALUATION = Step("evaluation", "patients:evaluation", _("Registrer evaluering"), StatusEvent.EVALUATED)
END = Step("end", "patients:end", _("Avslutt forløpet"), StatusEvent.ENDED)

# Status → the steps it offers, in the order the patient page shows them. Starting again after an
# end is a new oppstart (a new vedtak first: the oppstart's own refusal says so).
NEXT_STEPS: dict[str, tuple[Step, ...]] = {
    PatientStatus.PENDING: (CONSENT, START, END),
    PatientStatus.ACTIVE: (PAUSE, EVALUATION, END),
    PatientStatus.PAUSED: (RESUME, EVALUATION, END),
    PatientStatus.ENDED: (NEW_START,),
}
# Events a status takes that are no step of the patient page: a move to another kommune (the
# «mulig flytting» answer ends and moves a started forløp).
OTHER_EVENTS: dict[str, frozenset[StatusEvent]] = {
    PatientStatus.ACTIVE: frozenset({StatusEvent.MOVED}),
    PatientStatus.PAUSED: frozenset({StatusEvent.MOVED}),
}


def next_steps(status: str) -> tuple[Step, ...]:
    return NEXT_STEPS.get(status, ())


def offers(status: str, key: str) -> bool:
    """Whether the status offers the step (`Step.key`: "start", "evaluation" …)."""
    return any(step.key == key for step in next_steps(status))


def allowed_events(status: str) -> frozenset[StatusEvent]:
    """The status rows that may follow the status: its steps' and its other events."""
    steps = {step.event for step in next_steps(status) if step.event is not None}
    return frozenset(steps) | OTHER_EVENTS.get(status, frozenset())


# --- evaluering: when it falls due ------------------------------------------------------------------

EVALUATION_NOTICE_DAYS = 14  # «evaluering forfaller» on the board: the date within two weeks
DEFAULT_EVALUATION_MONTHS = 3  # a kommune served by no centre (the centre's `evaluation_months`)


def evaluation_interval(months: int) -> datetime.timedelta:
    """`months` as days, the way the centre's «evaluering hver N. måned» is counted."""
    return datetime.timedelta(days=round(months * 30.44))


def evaluation_set_on(next_evaluation: datetime.date | None, vedtak_date: datetime.date | None):
    """The evaluation date set for the forløp: the one set at the last evaluation («fortsetter»),
    else the vedtak's."""
    return next_evaluation or vedtak_date


def evaluation_due(
    start: Sequence[Any] | None,
    approved_at: datetime.datetime | None,
    months: int,
) -> tuple[datetime.datetime, datetime.datetime] | None:
    """(due, settled from) of a patient's evaluation. `start` is the latest oppstart as (started_on,
    next_evaluation, the vedtak's evaluation date): due on the date set (`evaluation_set_on`), else
    `months` after the oppstart; an evaluation on or after the due date settles it. A forløp from
    before the status history (no oppstart row) counts `months` from the approval of the plan in force
    (`approved_at`, handed in by the caller: the plan is ebp's), and any evaluation since the approval
    settles it. Neither: None (nothing is due)."""
    after = evaluation_interval(months)
    if start is not None:
        started_on, next_evaluation, vedtak_date = start
        day = evaluation_set_on(next_evaluation, vedtak_date) or started_on + after
        due = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
        return due, due
    if approved_at is not None:
        # On the Norwegian clock: the same time of day `months` later, whatever summer time did between.
        return timezone.localtime(approved_at) + after, approved_at
    return None


def evaluation_soon(due_on: datetime.date | None, today: datetime.date) -> bool:
    """Whether the board lists the forløp under «Evaluering forfaller»: its date within the notice."""
    return due_on is not None and due_on <= today + datetime.timedelta(days=EVALUATION_NOTICE_DAYS)
