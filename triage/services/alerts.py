"""Opening, raising and closing the worklist's alerts, each change written as an AlertEvent row.

One open alert per patient, kind and subject is guaranteed by a partial unique index; a task that
loses the race to open it attaches to the winner's alert instead, and one whose alert a nurse closes
under it opens a new one (alerts_upsert). Rows are taken in one fixed order, so two tasks raising the
same alerts cannot deadlock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from measurements.types import RANK
from tenants.bulk import bulk_insert, bulk_update, column_values
from tenants.people import people_named
from triage.models import FIRST_ACTIONS, Alert, AlertColour, AlertEvent, AlertEventKind, AlertKind, AlertStatus

SILENCE_KINDS = (AlertKind.INACTIVE_PATIENT, AlertKind.MISSING_MEASUREMENT, AlertKind.MISSING_ANSWER)
CLOSED_BY_DATA = "Data mottatt"
FORLOP_ENDED = "Forløp avsluttet"
UPSERT_PASSES = 5  # alerts_upsert: each pass after the first needs an alert closed under it


@dataclass(frozen=True)
class Finding:
    """Something that should be on the worklist: opens the patient's alert of this kind or raises it."""

    patient_id: uuid.UUID
    municipality_id: int
    kind: str
    subject: str
    colour: str
    reason: str
    without_plan: bool
    measurement: str = ""
    reading_id: int | None = None  # what was found, for the alert's history
    answer_id: int | None = None

    @property
    def key(self) -> tuple:
        return (self.patient_id, self.kind, self.subject)


def _rank(colour: str) -> int:
    return RANK[colour]


def events_record(
    alerts: Iterable[Alert],
    kind: str,
    now,
    *,
    findings: dict | None = None,
    previous: dict | None = None,
    by=None,
    reason: str = "",
) -> None:
    """One AlertEvent per alert, in one statement. `findings` (alert key → Finding) names what was
    found, else `reason` says what happened; `previous` (alert id → colour) the colour before a raise."""
    alerts = list(alerts)
    if not alerts:
        return
    found = [(findings or {}).get((a.patient_id, a.kind, a.subject)) for a in alerts]
    bulk_insert(
        AlertEvent,
        {
            "alert_id": [a.pk for a in alerts],
            "municipality_id": [a.municipality_id for a in alerts],
            "patient_id": [a.patient_id for a in alerts],
            "kind": kind,
            "at": now,
            "colour": [a.colour for a in alerts],
            "previous_colour": [(previous or {}).get(a.pk, "") for a in alerts],
            "reason": [(f.reason if f else reason)[:300] for f in found],
            "reading_id": [f.reading_id if f else None for f in found],
            "answer_id": [f.answer_id if f else None for f in found],
            "by_id": getattr(by, "pk", None),
        },
    )
    if kind in FIRST_ACTIONS:
        _first_action_record(alerts, now)


def _first_action_record(alerts: list[Alert], now) -> None:
    """The alerts' first action, where this is it: the events stay the history, the column spares
    insight a pass over them (the earliest of the alert's taken, not reached and handled events)."""
    Alert.objects.filter(pk__in=[a.pk for a in alerts], first_action_at__isnull=True).update(first_action_at=now)
    for alert in alerts:
        alert.first_action_at = alert.first_action_at or now


def _alerts_insert(findings: list[Finding], now) -> list[Alert]:
    """Open an alert for every finding without one, in one statement. A finding whose patient already
    has an open alert of that kind (maybe opened by a parallel task this instant) is skipped by the
    partial unique index and not returned."""
    rows = bulk_insert(
        Alert,
        {
            "patient_id": [f.patient_id for f in findings],
            "municipality_id": [f.municipality_id for f in findings],
            "kind": [f.kind for f in findings],
            "subject": [f.subject for f in findings],
            "colour": [f.colour for f in findings],
            "reason": [f.reason[:300] for f in findings],
            "without_plan": [f.without_plan for f in findings],
            "measurement": [f.measurement for f in findings],
            "status": AlertStatus.OPEN.value,
            "opened_at": now,
            "updated_at": now,
        },
        on_conflict="(patient_id, kind, subject) WHERE status = 'open' DO NOTHING",
        returning=("id", "patient_id", "municipality_id", "kind", "subject", "colour", "reason"),
    )
    fields = ("id", "patient_id", "municipality_id", "kind", "subject", "colour", "reason")
    return [Alert(**dict(zip(fields, row, strict=True))) for row in rows]


def _turned_red(alert: Alert, held: dict) -> None:
    """A red needs someone now, and not the plan made for the yellow: a time to try again (the patient
    was not reached) no longer holds, and the nurse's hold on the alert is let go. A taken alert offers
    the others no «Jeg tar denne», and only its taker may handle it, so a red left taken by a nurse who
    is waiting for the retry, or gone off shift, would stand on everyone's list with nobody able to act.
    Let go, it is everyone's, the taker's too (one click to take it again); `held` keeps whose it was."""
    alert.retry_at = None
    if alert.taken_by_id is not None:
        held[alert.pk] = alert.taken_by_id
        alert.taken_by_id, alert.taken_at = None, None


def _releases_record(alerts: list[Alert], held: dict, now) -> None:
    """The «Sluppet» event of each alert _turned_red let go, naming whose it was (as a nurse's release does)."""
    names = people_named(held.values())
    by_holder: dict[str, list[Alert]] = {}
    for alert in alerts:
        if alert.pk in held:
            by_holder.setdefault(names.get(held[alert.pk], ""), []).append(alert)
    for holder, released in by_holder.items():
        reason = f"Ble rødt og er ledig for alle på arbeidslisten (var tatt av {holder})"
        events_record(released, AlertEventKind.RELEASED, now, reason=reason)


def _alerts_raise(findings: list[Finding], now) -> list[Alert]:
    """Attach findings to the patients' open alerts (locked): a red after a yellow raises the colour
    (an event row keeps both findings) and lets go of the yellow's retry time and taker (_turned_red);
    the reason follows the latest finding of the alert's colour."""
    by_key = {f.key: f for f in findings}
    alerts = list(
        Alert.objects.select_for_update()
        .filter(
            status=AlertStatus.OPEN,
            patient_id__in={f.patient_id for f in findings},
            kind__in={f.kind for f in findings},
        )
        .order_by("patient_id", "kind", "subject")
    )
    changed, raised, previous = [], [], {}
    held: dict[uuid.UUID, int] = {}  # alert → whose it was, let go as it turned red
    for alert in alerts:
        found = by_key.get((alert.patient_id, alert.kind, alert.subject))
        if found is None:
            continue
        if _rank(found.colour) > _rank(alert.colour):
            previous[alert.pk] = alert.colour
            alert.colour, alert.raised_at = found.colour, now
            raised.append(alert)
            if alert.colour == AlertColour.RED:
                _turned_red(alert, held)
        if _rank(found.colour) >= _rank(alert.colour):
            alert.reason, alert.measurement = found.reason[:300], found.measurement
        alert.without_plan = alert.without_plan or found.without_plan
        alert.updated_at = now
        changed.append(alert)
    fields = ("id", "colour", "raised_at", "reason", "without_plan", "updated_at", "measurement")
    held_fields = ("retry_at", "taken_by_id", "taken_at")  # let go as it turned red (_turned_red)
    bulk_update(Alert, column_values(changed, (*fields, *held_fields)))
    events_record(raised, AlertEventKind.RAISED, now, findings=by_key, previous=previous)
    _releases_record(raised, held, now)
    return changed


def _alerts_open_or_raise(findings: list[Finding], now) -> dict[tuple, uuid.UUID]:
    """One pass: open what has no open alert, raise what has one; → alert id per key it reached."""
    opened = _alerts_insert(findings, now)
    events_record(opened, AlertEventKind.OPENED, now, findings={f.key: f for f in findings})
    opened_keys = {(a.patient_id, a.kind, a.subject) for a in opened}
    rest = [f for f in findings if f.key not in opened_keys]
    touched = [*opened, *(_alerts_raise(rest, now) if rest else [])]
    return {(a.patient_id, a.kind, a.subject): a.pk for a in touched}


def alerts_upsert(findings: list[Finding], now) -> dict[tuple, uuid.UUID]:
    """Open or raise one alert per (patient, kind, subject); → alert id per key. Safe against a
    parallel task doing the same: rows are taken in one fixed order, and the index decides ties.

    Safe against a nurse closing the alert this instant too: the nurse's step holds the open row
    locked, so the insert skips it as a conflict, and once that step commits, the raise's
    `FOR UPDATE … WHERE status = 'open'` finds the row closed. Such a key goes round again, and the
    next insert opens a new alert (the closed row no longer holds the index): the reading is on the
    worklist at once, and the other findings of the batch are not rolled back with it. Each further
    pass needs yet another close in that same instant, so a few suffice; past them the task fails
    and the sweeper re-queues its readings."""
    pending = sorted(findings, key=lambda f: (str(f.patient_id), f.kind, f.subject))
    ids: dict[tuple, uuid.UUID] = {}
    for _ in range(UPSERT_PASSES):
        if not pending:
            return ids
        ids |= _alerts_open_or_raise(pending, now)
        pending = [f for f in pending if f.key not in ids]
    if pending:
        raise RuntimeError(f"Fant ikke et åpent varsel for {len(pending)} funn etter {UPSERT_PASSES} forsøk.")
    return ids


def silence_alerts_close(patients: set, measured: set, now, answered: set | None = None) -> None:
    """Data arrived: the patient is no longer inactive, and what was missing is no longer missing."""
    if not patients:
        return
    open_silence = Alert.objects.select_for_update().filter(
        patient_id__in=list(patients), status=AlertStatus.OPEN, kind__in=SILENCE_KINDS
    )
    to_close = [
        a
        for a in open_silence.order_by("patient_id", "kind", "subject")
        if a.kind == AlertKind.INACTIVE_PATIENT
        or (a.kind == AlertKind.MISSING_MEASUREMENT and (a.patient_id, a.subject) in measured)
        or (a.kind == AlertKind.MISSING_ANSWER and (a.patient_id, a.subject) in (answered or set()))
    ]
    if not to_close:
        return
    Alert.objects.filter(pk__in=[a.pk for a in to_close]).update(
        status=AlertStatus.CLOSED, closed_at=now, updated_at=now, closed_reason=CLOSED_BY_DATA
    )
    events_record(to_close, AlertEventKind.CLOSED_BY_DATA, now, reason=CLOSED_BY_DATA)


def alerts_close_for_end(patient_id, now) -> int:
    """The patient's forløp ended: nothing of theirs stays on the worklist."""
    open_alerts = list(
        Alert.objects.select_for_update().filter(patient_id=patient_id, status=AlertStatus.OPEN).order_by("id")
    )
    if not open_alerts:
        return 0
    Alert.objects.filter(pk__in=[a.pk for a in open_alerts]).update(
        status=AlertStatus.CLOSED, closed_at=now, updated_at=now, closed_reason=FORLOP_ENDED
    )
    events_record(open_alerts, AlertEventKind.CLOSED_BY_END, now, reason=FORLOP_ENDED)
    return len(open_alerts)
