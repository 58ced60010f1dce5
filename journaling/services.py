"""The outbox: every handled alert's journal note and every routine contact or evaluation of a
kommune that sends its notes (a `Route` of kind jft or vkp) becomes one `Delivery`, written in the
transaction that wrote the note (journaling/signals.py), and sent at least once to the kommune's EPJ.

States: `pending` → (`delivery_send`) `sent` → (`delivery_poll`) `registered` → `read` → `journaled`.
A failure worth retrying (429, 5xx, a time-out, a connection error, HelseID unavailable, a 401 that
refuses the DPoP proof and not the token) is `failed` with the next try after 1, 2, 4, 8 and 16
minutes, then every hour for a day, then `dead`.
A refusal that no retry mends is `dead` at once: the document refused here (validation) or by the
receiver (400, kept as its OperationOutcome), or our configuration refused (401/403, a HelseID
refusal), which is also recorded on the route (`Route.problem`) for the centre admin.

Every try sends the same Bundle.identifier (`bundle_id`) and the same bytes: the document is built
and validated on the first try and kept in `sent_document`.

Concurrency: a worker claims a row (`claim`, `claimed_at`) under SELECT … FOR UPDATE SKIP LOCKED in
a short transaction, commits, sends without holding a transaction open, and records the answer in a
second one. Two workers never send a row at once; a claim older than `CLAIM_LEASE` is a dead worker's
and the sweep (`deliveries_send_due`) takes the row over. The worker's steps run outside a request
and declare their own named system scope for each transaction (tenants/rls.py); call them outside a
transaction so the claim commits before the network call.

Audit: the row's creation (by the nurse), every send (EXPORT), every change of state and every
resend (by the admin) are written with `tenants.services.audit_record`, the worker's as
`system:journaling.…`.
"""

from __future__ import annotations

import datetime
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone

from tenants import outages
from tenants.errors import NotAllowed, Refused
from tenants.helseid import HelseIdError
from tenants.models import AuditAction
from tenants.norwegian import datetime_text
from tenants.rls import system_scope
from tenants.services import audit_record
from triage.models import Contact, ContactKind, JournalNote

from . import transport
from .document import alert_document, contact_bundle_id, contact_document, note_bundle_id
from .models import JFT_SCOPE, VKP_CLIENT_TAKEN, Delivery, DeliveryState, Route, RouteKind
from .selectors import may_manage_journaling
from .validation import DocumentRefused, document_checked

log = logging.getLogger(__name__)

SEND_TASK = "journaling.send_delivery"
POLL_TASK = "journaling.poll_delivery"
SEND_SCOPE = "journaling.send"
POLL_SCOPE = "journaling.poll"
OVERDUE_SCOPE = "journaling.overdue_check"
OBJECT_TYPE = "journal_delivery"
ROUTE_OBJECT_TYPE = "journal_route"
# A claim older than this is a dead worker's. Longer than the longest send: a HelseID token (discovery
# and two token requests, 10 s each) and up to three requests of 5 + 30 s.
CLAIM_LEASE = datetime.timedelta(minutes=5)
# Minutes before the next try after the 1st, 2nd … failure; after the last, the row is dead.
BACKOFF_MINUTES = (1, 2, 4, 8, 16, *([60] * 24))
POLL_EVERY = datetime.timedelta(seconds=30)
BATCH = 50
# The journaling sweeps share the worker pool with scoring (two processes): a run takes no new row
# after this many seconds (the next beat run goes on), and a run of a sweep still going when beat
# starts the next one makes that one return at once (`_sweep_alone`), so a hanging receiver holds
# at most one process per sweep for about this long plus one row's requests.
SWEEP_BUDGET = 20.0
# The contacts sent by themselves: an alert's contact goes as its journal note, «ikke nådd» not at all.
CONTACT_KINDS = {ContactKind.ROUTINE, ContactKind.EVALUATION, ContactKind.CALL_IN}
PROGRESS = [DeliveryState.SENT, DeliveryState.REGISTERED, DeliveryState.READ, DeliveryState.JOURNALED]
STATUS_STATES = {"registered": DeliveryState.REGISTERED, "read": DeliveryState.READ,
                 "journaled": DeliveryState.JOURNALED}  # fmt: skip
RETRY_STATUSES = {408, 425, 429}
# A 401 that refuses the DPoP proof, not the token or the client (RFC 9449 §7.1, §9).
PROOF_REFUSALS = {"invalid_dpop_proof", "use_dpop_nonce"}
RECEIVER = {RouteKind.JFT: "Journalføringstjenesten", RouteKind.VKP: "VKP"}


class DeliveryRefused(Refused):
    """A step on a delivery or route that cannot be taken as asked (message in Norwegian)."""


class JournalingAdminRequired(NotAllowed):
    """Only the centre admin of a centre that serves the kommune (or a superuser) may do this."""


def overdue_after() -> datetime.timedelta:
    return datetime.timedelta(hours=settings.DHO_JOURNALING_OVERDUE_HOURS)


def retry_delay(tries: int) -> datetime.timedelta | None:
    """The wait after the `tries`-th failed try, or None when it was the last."""
    if tries < 1 or tries > len(BACKOFF_MINUTES):
        return None
    return datetime.timedelta(minutes=BACKOFF_MINUTES[tries - 1])


# --- writing the row (in the transaction that wrote the note) ------------------------------------


def _queue(delivery_id: int) -> None:
    """The send task by its name, after commit. A broker outage must not fail the nurse's step: the
    row is committed and the sweep sends it."""
    try:
        current_app.send_task(SEND_TASK, args=[delivery_id], retry=False)
    except Exception as error:
        if not outages.unreachable(error):
            log.warning("Kunne ikke legge journalsending %s i kø; sweepen tar den", delivery_id, exc_info=True)
        outages.failed("Redis", "journalsendinger legges ikke i kø; sweepen sender dem", error)
    else:
        outages.succeeded("Redis")


def _delivery_write(*, patient, municipality_id: int, bundle_id: uuid.UUID, user, **source: Any) -> Delivery | None:
    route = Route.objects.filter(municipality_id=municipality_id).first()
    if route is None or not route.sends:
        return None  # «Kopier til journal» as before
    delivery = Delivery.objects.create(
        municipality_id=municipality_id, patient=patient, bundle_id=bundle_id, transport=route.kind, **source
    )
    audit_record(action=AuditAction.CREATE, object_type=OBJECT_TYPE, object_id=delivery.pk, patient=patient,
                 user=user)  # fmt: skip
    transaction.on_commit(lambda: _queue(delivery.pk))
    return delivery


def delivery_for_note(*, note: JournalNote) -> Delivery | None:
    """The outbox row of a handled alert's journal note, when the kommune sends its notes."""
    return _delivery_write(
        patient=note.patient, municipality_id=note.municipality_id, bundle_id=note_bundle_id(note.pk),
        user=note.contact.by, journal_note=note,
    )  # fmt: skip


def delivery_for_contact(*, contact: Contact) -> Delivery | None:
    """The outbox row of a routine contact, an evaluation or the patient calling in; none for an
    alert's contact (its journal note is sent) or a «not reached» attempt (nothing to journal)."""
    if contact.kind not in CONTACT_KINDS or not contact.reached:
        return None
    return _delivery_write(
        patient=contact.patient, municipality_id=contact.municipality_id, bundle_id=contact_bundle_id(contact.pk),
        user=contact.by, contact=contact,
    )  # fmt: skip


# --- the worker's steps ---------------------------------------------------------------------------


def _audit(row: Delivery, action: str, scope_name: str) -> None:
    audit_record(action=action, object_type=OBJECT_TYPE, object_id=row.pk, patient=row.patient, system=scope_name)


def _route_problem(route: Route | None, reason: str, now, scope_name: str) -> None:
    """A configuration error, for the centre admin's list of routes (Route.problem)."""
    if route is None or route.pk is None:
        return
    Route.objects.filter(pk=route.pk).update(problem=reason, problem_at=now)
    route.problem, route.problem_at = reason, now
    audit_record(action=AuditAction.UPDATE, object_type=ROUTE_OBJECT_TYPE, object_id=route.pk, system=scope_name)


def _route_problem_clear(route: Route, scope_name: str) -> None:
    if route.problem:
        Route.objects.filter(pk=route.pk).update(problem="", problem_at=None)
        route.problem, route.problem_at = "", None
        audit_record(action=AuditAction.UPDATE, object_type=ROUTE_OBJECT_TYPE, object_id=route.pk, system=scope_name)


def _dead(row: Delivery, reason: str) -> None:
    row.state, row.last_error = DeliveryState.DEAD, reason
    row.claim = row.claimed_at = None


def _failed(row: Delivery, reason: str, now) -> None:
    delay = retry_delay(row.tries)
    row.claim = row.claimed_at = None
    if delay is None:
        row.state, row.last_error = DeliveryState.DEAD, f"Ga opp etter {row.tries} forsøk. {reason}"
        return
    row.state, row.next_try_at = DeliveryState.FAILED, now + delay
    row.last_error = f"{reason} Prøver igjen {datetime_text(row.next_try_at)}."


def _claim_filter(now) -> Q:
    unclaimed = Q(claim__isnull=True) | Q(claimed_at__lt=now - CLAIM_LEASE)
    return Q(state__in=[DeliveryState.PENDING, DeliveryState.FAILED], next_try_at__lte=now) & unclaimed


def deliveries_due(limit: int = BATCH) -> list[Delivery]:
    """Claims up to `limit` rows due to be sent (pending, or failed with its next try due; also a row
    a dead worker left claimed longer than CLAIM_LEASE), skipping rows another worker holds locked.
    Each returned row carries its `claim`: pass it to `delivery_send(row, claim=row.claim)`."""
    now = timezone.now()
    with system_scope(SEND_SCOPE):
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(_claim_filter(now))
            .defer("sent_document")
            .order_by("next_try_at", "pk")[:limit]
        )
        for row in rows:
            if row.claim is not None:
                log.warning("Journalsending %s: tar over et krav fra %s (arbeideren stoppet?)", row.pk, row.claimed_at)
            row.claim, row.claimed_at = uuid.uuid4(), now
        Delivery.objects.bulk_update(rows, ["claim", "claimed_at"])
    return rows


@dataclass
class _Prepared:
    row: Delivery
    route: Route
    data: bytes
    claim: uuid.UUID


def _document(row: Delivery) -> dict:
    if row.journal_note_id is not None:
        note = JournalNote.objects.select_related("alert", "contact__by", "patient").get(pk=row.journal_note_id)
        return alert_document(note)
    assert row.contact_id is not None  # the one of the two (delivery_one_source)
    return contact_document(Contact.objects.select_related("patient", "by").get(pk=row.contact_id))


def _route_incomplete(route: Route) -> str:
    try:
        route.full_clean(exclude=["municipality"])
    except ValidationError as exc:
        return "Ruten til journalsystemet er ikke fullstendig: " + " ".join(
            f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items()
        )
    return ""


def _prepare(pk: int, claim: uuid.UUID | None) -> tuple[_Prepared | None, Delivery | None]:
    """Claims the row (unless it is someone else's or not due), and builds and validates its document
    on the first try. (prepared, None) to send; (None, row) when it ended here; (None, None) when the
    row is not this worker's to send now."""
    with system_scope(SEND_SCOPE):
        now = timezone.now()
        row = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("patient")
            .filter(pk=pk)
            .first()
        )
        if row is None or row.state not in (DeliveryState.PENDING, DeliveryState.FAILED):
            return None, None
        held = row.claim is not None and row.claimed_at is not None and row.claimed_at >= now - CLAIM_LEASE
        if (claim is None or row.claim != claim) and (row.next_try_at > now or held):
            return None, None  # not due yet, or being sent by another worker
        route = Route.objects.filter(municipality_id=row.municipality_id).first()
        refusal = ""
        if route is None or not route.sends:
            refusal = "Kommunen sender ikke lenger journalnotater (ruten er fjernet eller satt til ingen)."
        elif problem := _route_incomplete(route):
            refusal = problem
            _route_problem(route, problem, now, SEND_SCOPE)
        elif row.sent_document is None:
            try:
                row.sent_document = document_checked(_document(row))
            except DocumentRefused as exc:
                refusal = str(exc)
                row.outcome = {"problems": [{"path": p.path, "message": p.message} for p in exc.problems]}
            except Exception as exc:  # a bug must not send the row round the sweep for ever
                log.exception("Journaldokumentet for sending %s kunne ikke bygges", row.pk)
                refusal = f"Journaldokumentet kunne ikke bygges: {exc}"
        if refusal:
            _dead(row, refusal)
            row.save()
            _audit(row, AuditAction.UPDATE, SEND_SCOPE)
            return None, row
        assert route is not None and row.sent_document is not None
        if row.transport != route.kind:
            # The route was switched (JFT ↔ VKP) since the row was written: the document goes where the
            # route now points, so the answers are read as that receiver's (VKP's 201 is success).
            log.info("Journalsending %s: ruten er endret fra %s til %s; sendes til %s", row.pk, row.transport,
                     route.kind, RECEIVER[RouteKind(route.kind)])  # fmt: skip
            row.transport = route.kind
        row.tries += 1
        row.claim, row.claimed_at = claim or uuid.uuid4(), now
        row.save()
        _audit(row, AuditAction.EXPORT, SEND_SCOPE)  # the patient's data leaves the platform
        return _Prepared(row, route, bytes(row.sent_document), row.claim), None


@dataclass
class _Result:
    answer: transport.Answer | None = None
    helseid: HelseIdError | None = None
    network: str = ""


def _transmit(prepared: _Prepared) -> _Result:
    try:
        return _Result(answer=transport.document_post(prepared.route, prepared.data))
    except HelseIdError as exc:
        return _Result(helseid=exc)
    except requests.Timeout:
        return _Result(network="Tidsavbrudd: mottaket svarte ikke i tide.")
    except requests.RequestException as exc:
        return _Result(network=f"Mottaket kunne ikke nås: {exc.__class__.__name__}.")
    except Exception as exc:
        # Anything else (a CA file that is not there is a plain OSError, a bug): a failure like a
        # network one, so the try counts and the row ends dead after the last, instead of the task
        # failing with the row left claimed and taken over by the sweep after every lease for ever.
        log.exception("Journalsending %s: uventet feil under sendingen", prepared.row.pk)
        return _Result(network=_unexpected(exc, "under sendingen"))


def _unexpected(exc: Exception, where: str) -> str:
    # The kind only: the message may name the worker's files; the traceback is in the worker's log.
    return f"Uventet feil {where} ({exc.__class__.__name__}); se arbeiderens logg."


def outcome_text(body: Any) -> str:
    """The diagnostics of an OperationOutcome (or an OAuth error), as one line."""
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        texts = []
        for issue in body.get("issue") or []:
            if isinstance(issue, dict):
                detail = (issue.get("details") or {}).get("text") if isinstance(issue.get("details"), dict) else None
                texts.append(str(issue.get("diagnostics") or detail or issue.get("code") or ""))
        return "; ".join(t for t in texts if t)
    if isinstance(body, dict) and body.get("error"):
        return f"{body['error']}: {body.get('error_description', '')}".strip(": ")
    return ""


def _apply_send(row: Delivery, route: Route, result: _Result, now) -> None:
    receiver = RECEIVER.get(RouteKind(row.transport), "Mottaket")
    if result.helseid is not None:
        reason = f"HelseID: {result.helseid.reason}"
        if result.helseid.transient:
            _failed(row, reason, now)
        else:
            _dead(row, reason)
            _route_problem(route, reason, now, SEND_SCOPE)
        return
    if result.answer is None:
        _failed(row, result.network, now)
        return
    answer = result.answer
    row.last_http_status = answer.status
    detail = outcome_text(answer.body)
    said = f"{receiver} svarte {answer.status}" + (f": {detail}" if detail else "") + "."
    accepted = {202} if row.transport == RouteKind.JFT else {200, 201, 202}
    if answer.status in accepted:
        _route_problem_clear(route, SEND_SCOPE)
        row.claim = row.claimed_at = None
        row.sent_at, row.last_error, row.outcome = now, "", None
        if answer.status == 202:
            row.state, row.status_url = DeliveryState.SENT, answer.location
            if not answer.location:
                row.last_error = f"{receiver} ga ingen statusadresse (Location); status kan ikke følges."
        else:  # a VKP create: stored by the knutepunkt, which gives no later receipt to follow
            row.state, row.registered_at = DeliveryState.REGISTERED, now
        return
    if isinstance(answer.body, dict) and answer.body.get("resourceType") == "OperationOutcome":
        row.outcome = answer.body
    if answer.status in RETRY_STATUSES or answer.status >= 500:
        _failed(row, said, now)
    elif answer.status in (400, 422):
        _dead(row, f"{receiver} avviste dokumentet ({answer.status})" + (f": {detail}" if detail else "") + ".")
    elif answer.status == 413:
        _dead(row, f"{receiver} avviste dokumentet som for stort (413).")
    elif answer.status == 401 and answer.challenge in PROOF_REFUSALS:
        # The token was good, the proof of holding its key was not: its timestamp outside the service's
        # window (this machine's clock), or a nonce that changed again. A later try with a new proof
        # can pass, so the row is retried (dead after the last try, as any failure), not stopped.
        reason = f"{receiver} avviste DPoP-beviset (401 {answer.challenge})."
        _failed(row, reason, now)
        _route_problem(route, reason + " Sjekk at klokken på serveren går riktig.", now, SEND_SCOPE)
    elif answer.status in (401, 403):
        reason = f"{receiver} avviste tilgangen ({answer.status})" + (f": {detail}" if detail else "") + "."
        _dead(row, reason)
        _route_problem(route, reason + " Sjekk HelseID-klienten, nøkkelen og organisasjonsnummeret.", now, SEND_SCOPE)
    elif answer.status in (404, 405) or 300 <= answer.status < 400:
        reason = f"{said} Sjekk adressen til journalsystemet."
        _dead(row, reason)
        _route_problem(route, reason, now, SEND_SCOPE)
    else:
        _dead(row, said)


def delivery_send(delivery: Delivery | int, *, claim: uuid.UUID | None = None) -> Delivery | None:
    """Sends one delivery, if it is due and no other worker has it: builds and validates the document
    (first try), posts it, and moves the state by the answer. `claim`: the one `deliveries_due` gave
    it. Returns the row as it now stands, or None when it was not this call's to send."""
    pk = delivery.pk if isinstance(delivery, Delivery) else delivery
    prepared, ended = _prepare(pk, claim)
    if prepared is None:
        return ended
    result = _transmit(prepared)
    with system_scope(SEND_SCOPE):
        # The kept bytes are not read again nor written back (a deferred field is left out of save()).
        locked = Delivery.objects.select_for_update(of=("self",)).select_related("patient")
        row = locked.defer("sent_document").get(pk=pk)
        if row.claim != prepared.claim:
            # Our claim ran out and another worker took the row over; its answer is the one recorded.
            log.warning("Journalsending %s: kravet gikk ut under sendingen; svaret (%s) lagres ikke", pk, result)
            return None
        before = row.state
        _apply_send(row, prepared.route, result, timezone.now())
        row.save()
        if row.state != before:
            _audit(row, AuditAction.UPDATE, SEND_SCOPE)
        return row


@contextmanager
def _sweep_alone(name: str) -> Iterator[bool]:
    """True when no other run of the sweep `name` is going (a Redis key, set if absent, that expires
    after CLAIM_LEASE should the worker die mid-run); False when one is. Redis not answering lets
    the run go ahead: the row claims still keep two workers off the same row."""
    key, token = f"dho:journaling:sweep:{name}", uuid.uuid4().hex
    try:
        ours = cache.add(key, token, timeout=CLAIM_LEASE.total_seconds())
    except Exception as error:
        if not outages.unreachable(error):
            log.warning("Journalsveipen %s: låsen i Redis kunne ikke tas; kjører uten", name, exc_info=True)
        outages.failed("Redis", "journalsveipene kjører uten vern mot overlapp", error)
        yield True
        return
    if not ours:
        log.info("Journalsveipen %s kjører allerede; denne runden hopper over", name)
        yield False
        return
    try:
        yield True
    finally:
        try:
            if cache.get(key) == token:  # not a later run's, had ours expired
                cache.delete(key)
        except Exception as error:  # the key expires by itself after CLAIM_LEASE
            if not outages.unreachable(error):
                log.warning("Journalsveipen %s: låsen i Redis kunne ikke slippes", name, exc_info=True)
            outages.failed("Redis", "journalsveipens lås slippes først når den går ut", error)


def _claims_release(rows: list[Delivery]) -> None:
    """The claimed rows a run had no time for: due again at once for the next run, not after the lease."""
    with system_scope(SEND_SCOPE):
        Delivery.objects.filter(claim__in=[row.claim for row in rows]).update(claim=None, claimed_at=None)


def deliveries_send_due(limit: int = BATCH, budget: float = SWEEP_BUDGET) -> int:
    """The sweep: claims what is due (new, retry due, or a dead worker's) and sends it, then queues
    the first quick look at each one sent (`delivery_follow_up`); takes no new row after `budget`
    seconds, nor runs beside another run. Returns how many were sent."""
    with _sweep_alone("send") as alone:
        if not alone:
            return 0
        rows = deliveries_due(limit)
        deadline, sent = time.monotonic() + budget, 0
        for index, row in enumerate(rows):
            try:
                done = delivery_send(row, claim=row.claim)
                if done is not None:
                    sent += 1
                # The quick looks as after the first send: a row the sweep sent is never polled
                # otherwise until the poll sweep reaches it.
                delivery_follow_up(done, 0)
            except Exception:
                # One row's error must not leave the rest of the batch claimed until the lease runs
                # out; this one keeps its claim, and the sweep takes it over after the lease.
                log.exception("Journalsending %s kunne ikke sendes; sweepen går videre", row.pk)
            if time.monotonic() >= deadline and index + 1 < len(rows):
                log.info("Journalsveipen brukte sin tid; %s sendinger tas av neste runde", len(rows) - index - 1)
                _claims_release(rows[index + 1 :])
                break
        return sent


# --- following the receipt ------------------------------------------------------------------------


def _pollable() -> Q:
    # A VKP create that was stored (registered) has no receipt after it.
    return Q(state__in=[DeliveryState.SENT, DeliveryState.REGISTERED, DeliveryState.READ]) & ~Q(status_url="")


def deliveries_to_poll(limit: int = BATCH) -> list[int]:
    now = timezone.now()
    with system_scope(POLL_SCOPE):
        return list(
            Delivery.objects.filter(_pollable())
            .filter(Q(polled_at__isnull=True) | Q(polled_at__lt=now - POLL_EVERY))
            # Never looked at first: PostgreSQL puts NULLs last in ascending order, where 50 rows
            # polled once would keep a never-polled row out of every batch.
            .order_by(F("polled_at").asc(nulls_first=True), "pk")
            .values_list("pk", flat=True)[:limit]
        )


def _advance(row: Delivery, state: str, now) -> None:
    """Forward only: a late answer of an earlier state never moves a row back."""
    if PROGRESS.index(DeliveryState(state)) <= PROGRESS.index(DeliveryState(row.state)):
        return
    row.state = state
    for reached, field in ((DeliveryState.REGISTERED, "registered_at"), (DeliveryState.READ, "read_at"),
                           (DeliveryState.JOURNALED, "journaled_at")):  # fmt: skip
        if PROGRESS.index(reached) <= PROGRESS.index(DeliveryState(state)) and getattr(row, field) is None:
            setattr(row, field, now)
    row.last_error = ""


def _apply_poll(row: Delivery, route: Route, result: _Result, now) -> None:
    receiver = RECEIVER.get(RouteKind(row.transport), "Mottaket")
    if result.helseid is not None:
        row.last_error = f"Status kunne ikke hentes. HelseID: {result.helseid.reason}"
        if not result.helseid.transient:
            _route_problem(route, f"HelseID: {result.helseid.reason}", now, POLL_SCOPE)
        return
    if result.answer is None:
        row.last_error = f"Status kunne ikke hentes. {result.network}"
        return
    answer = result.answer
    status = answer.body.get("status") if isinstance(answer.body, dict) else None
    if answer.status == 200 and status in STATUS_STATES:
        _advance(row, STATUS_STATES[status], now)
    elif answer.status == 200 and status == "failed":
        detail = outcome_text(answer.body.get("outcome")) or str(answer.body.get("reason") or "")
        _dead(row, "Kommunens journalsystem meldte at journalføringen feilet" + (f": {detail}" if detail else "") + ".")
    elif answer.status in (401, 403):
        reason = f"{receiver} avviste tilgangen til status ({answer.status}): {outcome_text(answer.body)}"
        row.last_error = reason
        _route_problem(route, reason, now, POLL_SCOPE)
    else:
        row.last_error = f"Status kunne ikke hentes: {receiver} svarte {answer.status}."


def delivery_poll(delivery: Delivery | int) -> Delivery | None:
    """Follows a sent delivery's status URL (JFT's `$status`) and moves it forward: registered, read,
    journaled; a `failed` from the EPJ makes it dead (a person must look). Returns the row, or None
    when it was not one to poll."""
    pk = delivery.pk if isinstance(delivery, Delivery) else delivery
    with system_scope(POLL_SCOPE):
        row = Delivery.objects.filter(_pollable(), pk=pk).defer("sent_document").first()
        route = Route.objects.filter(municipality_id=row.municipality_id).first() if row else None
    if row is None or route is None:
        return None
    try:
        result = _Result(answer=transport.status_get(route, row.status_url))
    except HelseIdError as exc:
        result = _Result(helseid=exc)
    except requests.RequestException as exc:
        result = _Result(network=f"{exc.__class__.__name__}.")
    except Exception as exc:  # as in the send: recorded on the row, not a failed task
        log.exception("Journalsending %s: uventet feil under statusoppslaget", pk)
        result = _Result(network=_unexpected(exc, "under statusoppslaget"))
    with system_scope(POLL_SCOPE):
        row = (
            Delivery.objects.select_for_update(of=("self",)).select_related("patient").defer("sent_document").get(pk=pk)
        )
        if row.state not in (DeliveryState.SENT, DeliveryState.REGISTERED, DeliveryState.READ):
            return row  # moved on meanwhile (another poll, a resend)
        before, now = row.state, timezone.now()
        _apply_poll(row, route, result, now)
        row.polled_at = now
        row.save()
        if row.state != before:
            _audit(row, AuditAction.UPDATE, POLL_SCOPE)
        return row


def quick_polls() -> tuple[float, ...]:
    """Seconds until each quick look at a just-sent delivery's receipt, the first after the send and
    each next after the last look (`DHO_JOURNAL_QUICK_POLLS`, by default 2, 3, 5, 10 and 20: five
    looks in 40 s): a quick EPJ's «Journalført» (the stand-in's, 3 s) reaches the nurse's screen
    within seconds, not at the next poll sweep, which follows the row after the last look."""
    return tuple(settings.DHO_JOURNAL_QUICK_POLLS)


def status_urls_move(*, municipality_id: int, old_base: str, new_base: str) -> int:
    """The deliveries on their way (sent, registered, read) whose receipt is followed under the
    route's old address follow it under its new one, the same path after the base. For the demo:
    `make run`'s JFT stand-in listens on a new port on every start but keeps its events
    (dho/dev/jft.py), so a note sent before a restart still reaches «Journalført»; dho.demo calls it
    when it points a route at the new port. A real service's status URLs are left as they came.
    In the caller's scope (the seed's); returns how many rows moved."""
    old, new = old_base.rstrip("/"), new_base.rstrip("/")
    if not old or not new or old == new:
        return 0
    return Delivery.objects.filter(
        _pollable(), municipality_id=municipality_id, status_url__startswith=f"{old}/"
    ).update(status_url=Concat(Value(new), Substr("status_url", len(old) + 1)), updated_at=timezone.now())


def delivery_follow_up(row: Delivery | None, step: int) -> None:
    """Queues quick look number `step` (from 0) at a delivery on its way (sent, registered, read),
    after its wait in `quick_polls()`; nothing once it is journaled or stopped, or after the last.
    A broker outage is no error: the beat's poll sweep follows the row anyway."""
    on_its_way = (DeliveryState.SENT, DeliveryState.REGISTERED, DeliveryState.READ)
    waits = quick_polls()
    if row is None or row.state not in on_its_way or not row.status_url or step >= len(waits):
        return
    try:
        current_app.send_task(POLL_TASK, args=[row.pk, step + 1], countdown=waits[step], retry=False)
    except Exception as error:
        if not outages.unreachable(error):
            log.warning("Kunne ikke legge statusoppslag for journalsending %s i kø; pollingen tar den", row.pk,
                        exc_info=True)  # fmt: skip
        outages.failed("Redis", "statusoppslag legges ikke i kø; pollingen tar dem", error)
    else:
        outages.succeeded("Redis")


def deliveries_poll_due(limit: int = BATCH, budget: float = SWEEP_BUDGET) -> int:
    """The poll sweep: every sent delivery not polled in the last POLL_EVERY, the never-polled first;
    no new row after `budget` seconds (the rest are the next run's first), nor beside another run.
    Returns how many were polled."""
    with _sweep_alone("poll") as alone:
        if not alone:
            return 0
        pks = deliveries_to_poll(limit)
        deadline, polled = time.monotonic() + budget, 0
        for index, pk in enumerate(pks):
            try:
                if delivery_poll(pk) is not None:
                    polled += 1
            except Exception:  # one row's error must not stop the others' receipts
                log.exception("Status for journalsending %s kunne ikke hentes; pollingen går videre", pk)
            if time.monotonic() >= deadline and index + 1 < len(pks):
                log.info("Statussveipen brukte sin tid; %s sendinger tas av neste runde", len(pks) - index - 1)
                break
        return polled


# --- not journaled in time ------------------------------------------------------------------------


def deliveries_overdue_flag() -> int:
    """Flags (`overdue_at`) every delivery not journaled `DHO_JOURNALING_OVERDUE_HOURS` after it was
    written — sent or not, stopped or not — for the centre's list (selectors.deliveries_needing_attention).
    A VKP delivery stored by the knutepunkt (registered) is as far as it goes, and is not flagged."""
    now = timezone.now()
    with system_scope(OVERDUE_SCOPE):
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("patient")
            .defer("sent_document")
            .filter(overdue_at__isnull=True, created_at__lt=now - overdue_after())
            .exclude(state=DeliveryState.JOURNALED)
            .exclude(transport=RouteKind.VKP, state=DeliveryState.REGISTERED)
        )
        for row in rows:
            row.overdue_at = now
            _audit(row, AuditAction.UPDATE, OVERDUE_SCOPE)
        Delivery.objects.bulk_update(rows, ["overdue_at"])
    if rows:
        log.warning("%s journalsendinger er ikke journalført etter %s", len(rows), overdue_after())
    return len(rows)


# --- the centre admin's steps ---------------------------------------------------------------------


def _admin_require(user, municipality_id: int) -> None:
    if not may_manage_journaling(user, municipality_id):
        raise JournalingAdminRequired("Bare senteradministratoren for kommunen kan endre journalsendinger.")


@transaction.atomic
def delivery_resend(*, delivery: Delivery, user, request=None) -> Delivery:
    """«Send på nytt»: a stopped (dead) or failed delivery goes back to pending with its tries reset,
    and is queued; not while a worker's claim on it is within the lease (it is being sent). The same
    Bundle.identifier; the same bytes, unless the document itself was refused (then it is built again
    from the rows)."""
    _admin_require(user, delivery.municipality_id)
    row = Delivery.objects.select_for_update(of=("self",)).select_related("patient").get(pk=delivery.pk)
    if row.state not in (DeliveryState.DEAD, DeliveryState.FAILED):
        raise DeliveryRefused("Bare stoppede eller feilede sendinger kan sendes på nytt.")
    if row.claim is not None and row.claimed_at is not None and row.claimed_at >= timezone.now() - CLAIM_LEASE:
        # A retry is on the wire: clearing its claim would let the queued task send the same bytes
        # again, and the first worker would throw away its answer (a 202 and its status URL).
        raise DeliveryRefused("Forsendelsen sendes akkurat nå; prøv igjen om litt.")
    if row.sent_document is None or row.last_http_status in (400, 413, 422):
        row.sent_document = None
    row.state, row.tries, row.next_try_at = DeliveryState.PENDING, 0, timezone.now()
    row.claim = row.claimed_at = None
    row.overdue_at, row.last_error = None, ""
    row.save()
    audit_record(action=AuditAction.UPDATE, object_type=OBJECT_TYPE, object_id=row.pk, patient=row.patient,
                 request=request, user=user)  # fmt: skip
    transaction.on_commit(lambda: _queue(row.pk))
    return row


@transaction.atomic
def route_save(
    *,
    municipality,
    user,
    kind: str,
    orgnr: str = "",
    base_url: str = "",
    client_id: str = "",
    key_reference: str = "",
    scope: str = JFT_SCOPE,
    request=None,
) -> Route:
    """Sets where a kommune's notes go. Validated (organisation number, https, a key reference and
    never a key); a saved route clears its recorded problem (someone has looked at it)."""
    _admin_require(user, municipality.pk)
    route = Route.objects.select_for_update().filter(municipality=municipality).first() or Route(
        municipality=municipality
    )
    route.kind, route.orgnr, route.base_url = kind, orgnr.strip(), base_url.strip()
    route.client_id, route.key_reference, route.scope = client_id.strip(), key_reference.strip(), scope.strip()
    route.problem, route.problem_at, route.updated_by = "", None, user
    try:
        route.full_clean()
    except ValidationError as exc:
        raise DeliveryRefused(" ".join(m for messages in exc.message_dict.values() for m in messages)) from None
    try:
        with transaction.atomic():
            route.save()
    except IntegrityError:
        # Another kommune's VKP route has the client: a route outside this admin's scope, which
        # full_clean could not see (row-level security); the database's constraint could.
        raise DeliveryRefused(str(VKP_CLIENT_TAKEN)) from None
    audit_record(action=AuditAction.UPDATE, object_type=ROUTE_OBJECT_TYPE, object_id=route.pk, request=request,
                 user=user)  # fmt: skip
    return route
