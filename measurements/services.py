"""Store first, then score. A batch is validated item by item, the valid readings are inserted in one
statement (duplicates of earlier deliveries are skipped by the unique key, not by a lookup), the
rejected ones are kept in the quarantine, and the batch's scoring is queued after commit (in chunks,
a few readings sent as they were taken ahead of the bulk: enqueue_scoring).

The quarantine holds at most DHO_QUARANTINE_DAILY_LIMIT items per gateway and day. Past it, a
batch's rejected items are not kept but *refused* (status "refused"): the API answers 429 and the
gateway keeps them and sends the batch again later (its valid items are duplicates then, stored
once). The centre admin gets one notice per gateway and day (`QuarantineNotice`, audited).

If the broker is down the readings are still stored and the request still succeeds: the beat
sweeper (triage.tasks.sweep_unscored) queues whatever is left unscored after two minutes. A resent
item whose stored row is still unscored answers "duplicate" and is queued for scoring again.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from celery import current_app
from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.db import transaction
from django.db.models import F, Func, OuterRef, TextField, Value
from django.db.models.functions import Cast
from django.utils import timezone

from measurements.fhir import located, observation_to_item
from measurements.ingest import ItemError, NewAnswer, NewReading, parse_answer, parse_reading
from measurements.models import (
    Answer,
    Integration,
    QuarantinedItem,
    QuarantineNotice,
    QuarantineStatus,
    Reading,
    token_hash,
)
from patients.models import Patient
from patients.selectors import records_by_national_id
from patients.services.equipment import loans_by_serial
from tenants import outages, rls
from tenants.bulk import bulk_insert, uuid_array
from tenants.compiled import NO_ID, NO_OTHER_ID, NO_UUID, CompiledQuery
from tenants.models import Agreement, AuditAction, Centre, Role
from tenants.norwegian import date_text
from tenants.selectors import served_by_centre
from tenants.services import audit_record, audit_record_integration, audit_record_integration_event

log = logging.getLogger(__name__)


@dataclass
class ItemResult:
    index: int
    # created | duplicate | rejected (kept in the quarantine) | refused (quarantine full: send again)
    # | not-supported (a FHIR batch entry that asks for something other than a create: not done, not kept)
    status: str
    id: int | None = None
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        out = {"index": self.index, "status": self.status}
        if self.id is not None:
            out["id"] = self.id
        if self.errors:
            out["errors"] = self.errors
        return out


def integration_create(*, centre, name: str) -> tuple[Integration, str]:
    """A new gateway credential; the token is returned once and never stored."""
    integration = Integration(centre=centre, name=name)
    token = integration.set_new_token()
    integration.save()
    return integration, token


def integration_rotate(*, integration: Integration, by, request=None) -> str:
    """A new token for the gateway, returned once: the old one stops working at once (only the new
    hash is kept). Audited as the centre admin who did it."""
    token = integration.set_new_token()
    integration.save(update_fields=["token_hash", "token_prefix"])
    audit_record(action=AuditAction.UPDATE, object_type="integration_token", object_id=integration.pk,
                 request=request, user=by, role=Role.ADMIN)  # fmt: skip
    return token


def integration_active_set(*, integration: Integration, active: bool, by, request=None) -> None:
    """Deactivates (or activates again) a gateway: an inactive gateway's token is refused. Audited."""
    integration.active = active
    integration.save(update_fields=["active"])
    audit_record(action=AuditAction.UPDATE, object_type="integration", object_id=integration.pk, request=request,
                 user=by, role=Role.ADMIN)  # fmt: skip


def integration_for_token(token: str) -> Integration | None:
    return Integration.objects.filter(token_hash=token_hash(token), active=True).select_related("centre").first()


def _authenticate_query(day, token_hash: str):
    """The active gateway of a token hash and its centre, its request's scope set by the same statement:
    the municipalities its centre serves on `day`, the host and the partners with an agreement in force."""
    partners = (
        Agreement.objects.active(on=day).filter(centre_id=OuterRef("centre_id")).order_by().values("municipality_id")
    )
    reach = Func(ArraySubquery(partners), F("centre__host_id"), function="array_append")
    scope = Func(
        Value(rls.SCOPE_SETTING), Cast(reach, TextField()), Value(True), function="set_config", output_field=TextField()
    )
    found = Integration.objects.filter(token_hash=token_hash, active=True).annotate(_scope=scope).order_by()
    return found.values_list(*_INTEGRATION_FIELDS, *(f"centre__{name}" for name in _CENTRE_FIELDS), "_scope")[:1]


_INTEGRATION_FIELDS = [f.attname for f in Integration._meta.concrete_fields]
_CENTRE_FIELDS = [f.name for f in Centre._meta.concrete_fields]  # as values_list names them across the join
_CENTRE_ATTNAMES = [f.attname for f in Centre._meta.concrete_fields]  # as Centre.from_db takes them
# A marker no token hashes to (a hash is 64 hex digits).
_AUTHENTICATE = CompiledQuery(_authenticate_query, token_hash="<not a token hash>")  # noqa: S106


def integration_authenticate(token: str) -> Integration | None:
    """The active gateway of this token, its request's database scope SET LOCAL by the same statement
    (as integration_scope_set sets it): one round trip less on every gateway request, which a gateway
    sending each reading as it is taken pays per reading. No row, no scope: an unknown or deactivated
    token leaves the request's empty scope as it was. Compiled once a day (tenants.compiled): the
    query every gateway request runs."""
    rls.in_transaction_check()
    rows = _AUTHENTICATE.rows(timezone.localdate(), token_hash=token_hash(token))
    if not rows:
        return None
    row, split = rows[0], len(_INTEGRATION_FIELDS)
    integration = Integration.from_db("default", _INTEGRATION_FIELDS, row[:split])
    integration.centre = Centre.from_db("default", _CENTRE_ATTNAMES, row[split:-1])
    return integration


def integration_scope_set(integration: Integration) -> None:
    """SET LOCAL the database scope of a gateway's request: the municipalities whose patients it posts
    for, its centre's host and partners (worked out and set in one round trip)."""
    partners = Agreement.objects.active().filter(centre_id=integration.centre_id).values("municipality_id").order_by()
    sql, params = partners.query.sql_with_params()
    rls.scope_set_to_query(f"{sql} UNION SELECT %s::bigint", [*params, integration.centre.host_id])


def _in_scope_query(day, centre_id: int, host_id: int, patient_ids: list):
    centre = Centre(pk=centre_id, host_id=host_id)  # served_by_centre reads these two
    # The ids as one array parameter: a parameter per id was about a sixth of a 1,000-reading batch's time.
    rows = Patient.objects.filter(served_by_centre(centre, on=day), id__in=uuid_array(patient_ids)).order_by()
    return rows.values_list("id", "municipality_id")


# Markers no real call passes (ids are positive); compiled once a day (tenants.compiled).
_IN_SCOPE = CompiledQuery(_in_scope_query, centre_id=NO_ID, host_id=NO_OTHER_ID, patient_ids=[NO_UUID])


def _patients_in_scope(integration: Integration, patient_ids: set[uuid.UUID]) -> dict[uuid.UUID, int]:
    """patient id → municipality id, for the patients this gateway may deliver for."""
    if not patient_ids:
        return {}
    centre = integration.centre
    rows = _IN_SCOPE.rows(
        timezone.localdate(), centre_id=centre.pk, host_id=centre.host_id, patient_ids=list(patient_ids)
    )
    return dict(rows)


UNKNOWN_PATIENT = ItemError("patient_id", "ukjent pasient for denne integrasjonen")


# --- the quarantine and its daily cap ---------------------------------------------------------------


def quarantine_daily_limit() -> int:
    return int(settings.DHO_QUARANTINE_DAILY_LIMIT)


def _today_start() -> datetime.datetime:
    """Midnight in Norway (TIME_ZONE): a gateway's day, as the admin reads it."""
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def quarantine_retry_after() -> int:
    """Seconds until the cap opens again (the next day in Norway), for Retry-After."""
    tomorrow = _today_start() + datetime.timedelta(days=1)
    return max(1, int((timezone.localtime(tomorrow) - timezone.now()).total_seconds()))


def _quarantine_has_room(integration: Integration, count: int) -> bool:
    """Is there room today for `count` more of this gateway's items? Counted under a lock on the
    gateway's row (FOR NO KEY UPDATE: its concurrent inserts of readings, which only share-lock the
    key, go on), so two batches cannot both take the last places."""
    list(Integration.objects.select_for_update(no_key=True).filter(pk=integration.pk).values_list("pk"))
    kept = QuarantinedItem.objects.filter(integration=integration, received_at__gte=_today_start()).count()
    return kept + count <= quarantine_daily_limit()


def _quarantine_notice(integration: Integration, refused: int, request) -> None:
    """Tells the centre admin, once a day per gateway (the row, and its audit event, when it is new);
    later refusals that day only add to the count."""
    now = timezone.now()
    notice, created = QuarantineNotice.objects.get_or_create(
        integration=integration,
        day=timezone.localdate(now),
        defaults={"centre_id": integration.centre_id, "refused": refused, "first_refused_at": now,
                  "last_refused_at": now},
    )  # fmt: skip
    if created:
        audit_record_integration_event(
            integration=integration,
            action=AuditAction.CREATE,
            object_type="quarantine_notice",
            object_id=notice.pk,
            request=request,
        )
        log.warning("Karantenen for integrasjon %s er full for i dag (%s elementer)", integration.pk,
                    quarantine_daily_limit())  # fmt: skip
    else:
        QuarantineNotice.objects.filter(pk=notice.pk).update(refused=F("refused") + refused, last_refused_at=now)


def _quarantine(
    integration: Integration,
    kind: str,
    rejected: Sequence[tuple[int, object, list[dict]]],
    request,
    full_urls: Sequence[str | None] = (),
) -> bool:
    """Keeps the rejected items (index, what was sent, errors) in the quarantine; False when today's
    cap leaves no room for all of them, and then none is kept: the gateway sends the batch again, and
    part of it kept now would be in the quarantine twice. `full_urls`: a FHIR Bundle's, by index."""
    if not rejected:
        return True
    if not _quarantine_has_room(integration, len(rejected)):
        _quarantine_notice(integration, len(rejected), request)
        return False
    QuarantinedItem.objects.bulk_create(
        [
            QuarantinedItem(
                integration=integration,
                centre_id=integration.centre_id,
                kind=kind,
                index=index,
                payload=raw if isinstance(raw, dict | list) else {"raw": raw},
                full_url=(full_urls[index] if index < len(full_urls) else None) or "",
                errors=errors,
            )
            for index, raw, errors in rejected
        ]
    )
    return True


def _refuse(results: list[ItemResult], indexes) -> None:
    for index in indexes:
        results[index].status = "refused"


def quarantine_refused(results: list[ItemResult]) -> int:
    """How many items of a batch were refused because the quarantine was full (0: none)."""
    return sum(1 for result in results if result.status == "refused")


def quarantine_full_message(results: list[ItemResult]) -> str:
    """What the gateway is told in the 429: what was kept, what it must send again, and when."""
    stored = sum(1 for r in results if r.status in ("created", "duplicate"))
    kept = f" {stored} gyldige elementer er lagret og lagres ikke to ganger." if stored else ""
    return (
        f"Karantenen for denne integrasjonen er full for i dag (høyst {quarantine_daily_limit()} avviste "
        f"elementer per døgn). {quarantine_refused(results)} avviste elementer er ikke tatt imot: behold dem, "
        f"rett feilen og send forespørselen på nytt etter Retry-After.{kept} Senterets administrator er varslet."
    )


def _reading_columns(news: list[NewReading]) -> dict[str, list]:
    return {
        "type": [r.type for r in news],
        "value": [r.value for r in news],
        "systolic": [r.systolic for r in news],
        "diastolic": [r.diastolic for r in news],
        "original": [r.original for r in news],
        "measured_at": [r.measured_at for r in news],
    }


def _answer_columns(news: list[NewAnswer]) -> dict[str, list]:
    return {
        "questionnaire": [a.questionnaire for a in news],
        "answers": [a.answers for a in news],
        "total": [a.total for a in news],
        "answered_at": [a.answered_at for a in news],
    }


# The time column each kind is partitioned by, which its idempotency key holds (models' Meta).
TIME_FIELD = {Reading: "measured_at", Answer: "answered_at"}


def _key(model, new) -> tuple[str, datetime.datetime]:
    """What makes an item one reading or answer: its gateway's external id and the time it was taken
    (a resend carries both again; a gateway that reuses an id at another time sent another item)."""
    return new.external_id, getattr(new, TIME_FIELD[model])


def _insert(model, columns_of, integration: Integration, rows: list[tuple]) -> dict[tuple, int]:
    """Insert (new item, municipality id) rows in one INSERT … SELECT unnest; (external id, time) →
    new id. A row whose (integration, external id, time) exists already is skipped by the unique key
    and not returned: a duplicate. Every field not given here takes its model default (tenants.bulk)."""
    news = [new for new, _ in rows]
    time_field = TIME_FIELD[model]
    values = {
        "patient_id": [new.patient_id for new in news],
        "municipality_id": [municipality for _, municipality in rows],
        "integration_id": integration.pk,
        "external_id": [new.external_id for new in news],
        "received_at": timezone.now(),
        **columns_of(news),
    }
    inserted = bulk_insert(
        model,
        values,
        on_conflict=f"(integration_id, external_id, {time_field}) DO NOTHING",
        returning=("external_id", time_field, "id"),
    )
    return {(ext, at): pk for ext, at, pk in inserted}


# What a resend must repeat to be the same item (besides its key): a different one is a correction.
COMPARED: dict[type, tuple[str, ...]] = {
    Reading: ("patient_id", "type", "value", "systolic", "diastolic"),
    Answer: ("patient_id", "questionnaire", "answers", "total"),
}


@dataclass
class _Stored:
    """The stored rows the duplicates of a batch met."""

    ids: dict[tuple, int] = field(default_factory=dict)  # (external id, time) → id
    unscored: dict[int, datetime.datetime] = field(default_factory=dict)  # id → time, of those still unscored
    values: dict[tuple, tuple] = field(default_factory=dict)  # (external id, time) → the COMPARED values


def _existing(model, integration: Integration, news: list) -> _Stored:
    """The stored rows the duplicates met, by external id and time (which also lets PostgreSQL read
    only the partitions of those months): their ids, the ids of those still unscored, and their values."""
    if not news:
        return _Stored()
    time_field = TIME_FIELD[model]
    wanted = {_key(model, new) for new in news}
    rows = model.objects.filter(
        integration=integration,
        external_id__in=[ext for ext, _ in wanted],
        **{f"{time_field}__in": [at for _, at in wanted]},
    ).values_list("external_id", time_field, "id", "scored_at", *COMPARED[model])
    stored = _Stored()
    for ext, at, pk, scored_at, *values in rows:
        if (ext, at) in wanted:
            stored.ids[(ext, at)], stored.values[(ext, at)] = pk, tuple(values)
            if scored_at is None:
                stored.unscored[pk] = at
    return stored


CORRECTION = (
    "en rettet verdi for {noun} som alt er mottatt (samme id og tidspunkt, men annen {what}): det mottatte "
    "endres ikke, for det kan alt være vurdert. Rett i journalen, eller send det som nytt med en ny id"
)
CORRECTION_NOUNS = {"reading": "en måling", "answer": "et svar"}
CORRECTION_NAMES = {"patient_id": "pasient", "type": "type", "questionnaire": "skjema"}


def _corrections(kind: _Kind, items: list, valid, first_index: dict, stored: _Stored) -> list:
    """The valid items that are resends of a stored item (or of one earlier in the batch) with other
    values: an amended or corrected reading. Answered as a duplicate it would be lost without a
    word, and written over the stored one it would change what was scored; so it is rejected and
    kept in the quarantine. → (index, what was sent, [error])."""
    fields = COMPARED[kind.model]
    first = {index: new for index, new, _ in valid}
    found = []
    for index, new, _ in valid:
        key = _key(kind.model, new)
        if first_index[key] == index and key not in stored.ids:
            continue  # stored now, by this item
        reference = stored.values.get(key) or tuple(getattr(first[first_index[key]], f) for f in fields)
        differing = [f for f, was in zip(fields, reference, strict=True) if getattr(new, f) != was]
        if differing:
            what = CORRECTION_NAMES.get(differing[0], "verdi")
            message = CORRECTION.format(noun=CORRECTION_NOUNS[kind.name], what=what)
            error = ItemError(differing[0], message, code="conflict")
            found.append((index, items[index], [error]))
    return found


# The scoring tasks are triage's (triage.tasks); measurements sits below triage and sends them by
# their registered name instead of importing them. tests/test_layering.py checks the names exist.
SCORING_TASKS = {"reading": "triage.score_readings", "answer": "triage.score_answers"}


# A few readings sent as they are taken (a gateway forwarding each measurement) are scored before the
# bulk of a batch: with Redis as broker a lower priority number is fetched first (kombu's priority
# steps 0, 3, 6, 9 are one list each, popped in that order), so a red reading does not wait in line
# behind thousands of a gateway's backlog. A batch is queued in chunks, so a worker process is free
# again (for the next urgent task) after one chunk, not after a whole batch.
URGENT_AT_MOST = 20
URGENT_PRIORITY = 0
BULK_PRIORITY = 6
SCORING_CHUNK = 250


def scoring_priority(count: int) -> int:
    return URGENT_PRIORITY if count <= URGENT_AT_MOST else BULK_PRIORITY


def _between(times: list[datetime.datetime]) -> dict:
    """The task's `between`: the earliest and latest time of its rows. Scoring finds them by id and
    time, and PostgreSQL reads only those months' partitions: by id alone it looked in every month's
    (a dozen index probes a row; 12 of a chunk's 60 ms at 30,000 patients and a year of readings)."""
    return {"between": [min(times).isoformat(), max(times).isoformat()]}


def enqueue_scoring(kind: str, ids: list[int], times: list[datetime.datetime] | None = None) -> None:
    """Queue the scoring of a stored batch (in chunks of SCORING_CHUNK); `times`, the rows' times in
    the ids' order, go with each chunk (`_between`). A broker outage must not fail the request: the
    readings are committed already and the sweeper will queue them."""
    if not ids:
        return
    name = SCORING_TASKS[kind]
    priority = scoring_priority(len(ids))
    try:
        # The project's Celery app (dho.celery): routed as apply_async would, default queue included.
        for start in range(0, len(ids), SCORING_CHUNK):
            chunk = ids[start : start + SCORING_CHUNK]
            kwargs = _between(times[start : start + SCORING_CHUNK]) if times else {}
            # argsrepr: what logs and monitors show of the task; without it Celery writes out the
            # chunk's 250 ids one by one (a millisecond of a 1,000-reading batch's request).
            argsrepr = f"[{len(chunk)} id-er: {chunk[0]}…{chunk[-1]}]"
            current_app.send_task(name, args=[chunk], kwargs=kwargs, retry=False, priority=priority, argsrepr=argsrepr)
        if priority == URGENT_PRIORITY:
            _urgent_add(kind, ids)
    except Exception as error:
        if not outages.unreachable(error):
            log.warning("Kunne ikke legge %s %s-er i kø; sweeperen tar dem", len(ids), kind, exc_info=True)
        # An outage: one line when it begins, one when it ends (tenants.outages), not one per request.
        outages.failed("Redis", "målinger og svar lagres, men legges ikke i kø; sweeperen vurderer dem", error)
    else:
        outages.succeeded("Redis")


# Urgent ids are also put in a Redis set, which every scoring task empties into its own batch
# (`urgent_take`): many small requests a second would otherwise queue one task each, and each task's
# fixed cost (its scope, the claim, the plans, the commit: a dozen statements) made the red reading
# sent now wait behind the single readings sent just before it. The set only speeds things up: each
# id is still in its own task's message, which finds it scored and does nothing, or scores it if
# the task that took it from the set died (its transaction rolled back).
URGENT_TAKE_AT_MOST = 1000
_redis_clients: dict[str, object] = {}


def _urgent_key(kind: str) -> str:
    return f"dho:scoring-urgent:{current_app.conf.task_default_queue}:{kind}"


def _redis():
    import redis

    url = current_app.conf.broker_url
    if url not in _redis_clients:
        _redis_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    return _redis_clients[url]


def _urgent_add(kind: str, ids: list[int]) -> None:
    try:
        _redis().sadd(_urgent_key(kind), *ids)
    except Exception:  # the task just sent carries the ids; the set only lets an earlier task take them
        log.debug("Kunne ikke legge hastende %s-er i settet", kind, exc_info=True)


def urgent_take(kind: str) -> list[int]:
    """The urgent ids queued and not yet taken by another task (each id is taken once); none if
    Redis does not answer (the tasks' own ids are scored all the same)."""
    try:
        taken = _redis().spop(_urgent_key(kind), URGENT_TAKE_AT_MOST)
    except Exception:
        log.debug("Kunne ikke hente hastende %s-er fra settet", kind, exc_info=True)
        return []
    return [int(i) for i in taken or ()]


def _serial_error(serial: str, day: datetime.date, known: bool, loans: int) -> ItemError:
    if not known:
        return ItemError("device_serial", f"ukjent enhet «{serial}» for dette senteret; send patient_id")
    if loans > 1:  # returned and lent again that day: the reading belongs to no one for sure
        return ItemError(
            "device_serial", f"enheten «{serial}» var utlånt til to pasienter {date_text(day)}; send patient_id"
        )
    return ItemError(
        "device_serial", f"enheten «{serial}» var ikke utlånt til noen pasient {date_text(day)}; send patient_id"
    )


def _by_serial(integration: Integration, parsed: list) -> tuple[list, list]:
    """Give the items sent by `device_serial` the patient of the device's loan on the day (in Norway)
    they were measured, all serials of the batch in one query; → (parsed, rejected)."""
    days = {index: timezone.localtime(new.measured_at).date() for index, _, new in parsed
            if getattr(new, "device_serial", None)}  # fmt: skip
    if not days:
        return parsed, []
    serials = {new.device_serial for index, _, new in parsed if index in days}
    loans = loans_by_serial(centre_id=integration.centre_id, serials=serials, days=days.values())
    resolved, rejected = [], []
    for index, raw, new in parsed:
        if index not in days:
            resolved.append((index, raw, new))
            continue
        periods = [p for p in loans.get(new.device_serial, ()) if p.covers(days[index])]
        if len(periods) == 1:
            resolved.append((index, raw, dataclasses.replace(new, patient_id=periods[0].patient_id)))
        else:
            error = _serial_error(new.device_serial, days[index], new.device_serial in loans, len(periods))
            rejected.append((index, raw, [error]))
    return resolved, rejected


def _split(items: list, parse, integration: Integration):
    """Parse every item; resolve device serials and patients in one query each;
    → (valid [(index, new, municipality)], rejected)."""
    now = timezone.now()
    parsed, rejected = [], []
    for index, raw in enumerate(items):
        new, errors = parse(raw, now)
        (rejected.append((index, raw, errors)) if errors else parsed.append((index, raw, new)))
    parsed, unresolved = _by_serial(integration, parsed)
    rejected += unresolved
    scope = _patients_in_scope(integration, {new.patient_id for _, _, new in parsed})
    valid = []
    for index, raw, new in parsed:
        if new.patient_id in scope:
            valid.append((index, new, scope[new.patient_id]))
        else:
            rejected.append((index, raw, [UNKNOWN_PATIENT]))
    return valid, rejected


def _results(
    kind: _Kind, count: int, valid, rejected, created: dict[tuple, int], existing: dict[tuple, int], first_index: dict
) -> list[ItemResult]:
    results: list[ItemResult | None] = [None] * count
    for index, _raw, errors in rejected:
        results[index] = ItemResult(index, "rejected", errors=[e.as_dict() for e in errors])
    for index, new, _ in valid:
        key = _key(kind.model, new)
        if key in created and first_index[key] == index:
            results[index] = ItemResult(index, "created", id=created[key])
        else:
            results[index] = ItemResult(index, "duplicate", id=created.get(key) or existing.get(key))
    return cast(list[ItemResult], results)  # every index is a rejected or a valid item's


def _audit(kind: _Kind, integration: Integration, valid, created: dict[tuple, int], first_index: dict, request) -> None:
    counts = Counter(
        (new.patient_id, municipality)
        for index, new, municipality in valid
        if first_index[key := _key(kind.model, new)] == index and key in created
    )
    if counts:
        audit_record_integration(
            integration=integration,
            action=AuditAction.CREATE,
            object_type=kind.name,
            patient_counts=counts,
            request=request,
        )


@dataclass(frozen=True)
class _Kind:
    name: str  # reading | answer
    parse: object
    model: type
    columns: object  # [new item] → {field: [values]}


READINGS = _Kind("reading", parse_reading, Reading, _reading_columns)
ANSWERS = _Kind("answer", parse_answer, Answer, _answer_columns)


def _ingest(kind: _Kind, integration: Integration, items: list, request, quarantine: bool, gateway_audit=True):
    valid, rejected = _split(items, kind.parse, integration)
    first_index: dict[tuple, int] = {}
    for index, new, _ in valid:  # the same item twice in one batch: the first is stored, the second a duplicate
        first_index.setdefault(_key(kind.model, new), index)
    unique = [(new, m) for index, new, m in valid if first_index[_key(kind.model, new)] == index]
    created = _insert(kind.model, kind.columns, integration, unique) if unique else {}
    stored = _existing(kind.model, integration, [n for n, _ in unique if _key(kind.model, n) not in created])
    existing, unscored = stored.ids, stored.unscored
    corrections = _corrections(kind, items, valid, first_index, stored)
    if corrections:
        corrected = {index for index, _raw, _errors in corrections}
        valid = [entry for entry in valid if entry[0] not in corrected]
        rejected = sorted([*rejected, *corrections], key=lambda r: r[0])
    kept = not quarantine or _quarantine(
        integration, kind.name, [(i, raw, [e.as_dict() for e in errors]) for i, raw, errors in rejected], request
    )
    if gateway_audit:  # a resubmission is audited as the admin who made it (quarantine_resubmit)
        _audit(kind, integration, valid, created, first_index, request)
    # A duplicate still unscored is queued again: its first task may have died with a worker or the
    # broker, and the gateway's resend is the earliest sign of it (else the sweep, minutes later).
    # Scoring claims only unscored rows (triage.services.scoring), so a second task scores nothing twice.
    to_score = {pk: at for (_ext, at), pk in created.items()} | unscored  # id → time
    transaction.on_commit(lambda: enqueue_scoring(kind.name, list(to_score), list(to_score.values())))
    results = _results(kind, len(items), valid, rejected, created, existing, first_index)
    if not kept:
        _refuse(results, [index for index, _raw, _errors in rejected])
    return results


# savepoint=False: inside the request's transaction (dho.scope) a savepoint would cost two more round
# trips per request and protect nothing: an error here fails the whole request, which rolls back.
# A FHIR transaction Bundle has its own savepoint around it (fhir_transaction).
@transaction.atomic(savepoint=False)
def readings_ingest(
    *,
    integration: Integration,
    items: list,
    request=None,
    quarantine: bool = True,
    gateway_audit: bool = True,
) -> list[ItemResult]:
    """Store a batch of readings: one result per item, in order. Never raises for a bad item.
    `quarantine` False skips keeping rejects (a resubmission, or FHIR, which keeps its own);
    `gateway_audit` False leaves the audit to the caller (a resubmission, audited as the admin)."""
    return _ingest(READINGS, integration, items, request, quarantine, gateway_audit)


@transaction.atomic(savepoint=False)
def answers_ingest(
    *, integration: Integration, items: list, request=None, quarantine=True, gateway_audit: bool = True
) -> list[ItemResult]:
    """Store a batch of questionnaire answers, like readings_ingest."""
    return _ingest(ANSWERS, integration, items, request, quarantine, gateway_audit=gateway_audit)


def _resubmit_json(item: QuarantinedItem, patient_id: uuid.UUID) -> tuple[dict, ItemResult]:
    """A JSON reading or answer with its patient_id corrected, through the JSON ingest it came by."""
    payload = dict(item.payload) if isinstance(item.payload, dict) else {}
    payload["patient_id"] = str(patient_id)
    ingest = answers_ingest if item.kind == "answer" else readings_ingest
    return payload, ingest(integration=item.integration, items=[payload], quarantine=False, gateway_audit=False)[0]


def _resubmit_fhir(item: QuarantinedItem, patient_id: uuid.UUID) -> tuple[dict, ItemResult]:
    """The Observation the gateway sent, with the chosen patient as its subject, through the same FHIR
    conversion as on arrival: the raw resource is no JSON item (it has no external_id, type …)."""
    resource = dict(item.payload) if isinstance(item.payload, dict) else {}
    resource["subject"] = {"reference": f"Patient/{patient_id}"}
    converted = observation_to_item(resource, item.full_url or None)
    if converted.errors:
        return resource, ItemResult(0, "rejected", errors=[e.as_dict() for e in converted.errors])
    stored = readings_ingest(
        integration=item.integration, items=[converted.item], quarantine=False, gateway_audit=False
    )
    return resource, stored[0]


def _audit_resubmission(item: QuarantinedItem, user, patient_id, outcome: ItemResult, request) -> None:
    """As the admin who resubmitted, not the gateway: the stored reading or answer, or (a duplicate,
    still rejected) the item. The patient is named when the centre's gateways may deliver for it."""
    patient = Patient.objects.filter(served_by_centre(item.centre), pk=patient_id).first()
    if outcome.status == "created":
        kind = "answer" if item.kind == "answer" else "reading"
        audit_record(action=AuditAction.CREATE, object_type=kind, object_id=outcome.id, patient=patient, user=user,
                     request=request, role=Role.ADMIN)  # fmt: skip
    else:
        audit_record(action=AuditAction.UPDATE, object_type="quarantined_item", object_id=item.pk, patient=patient,
                     user=user, request=request, role=Role.ADMIN)  # fmt: skip


@transaction.atomic
def quarantine_resubmit(*, item: QuarantinedItem, user, patient_id: uuid.UUID, request=None) -> ItemResult:
    """Send a quarantined item through ingest again with the corrected patient (centre admins), by the
    parser it came in by (kind "fhir": the FHIR conversion; "reading"/"answer": the JSON ingest).
    On success the item is marked resubmitted; otherwise it stays open with the new reasons.
    Audited as `user` (the admin), whatever the outcome."""
    resubmit = _resubmit_fhir if item.kind == "fhir" else _resubmit_json
    payload, outcome = resubmit(item, patient_id)
    _audit_resubmission(item, user, patient_id, outcome, request)
    if outcome.status == "rejected":
        item.errors = outcome.errors
        item.save(update_fields=["errors"])
        return outcome
    item.status, item.resolved_at, item.resolved_by = QuarantineStatus.RESUBMITTED, timezone.now(), user
    item.payload, item.result = payload, f"{outcome.status}: {outcome.id}"
    item.save(update_fields=["status", "resolved_at", "resolved_by", "payload", "result"])
    return outcome


def _fnr_to_patient(integration: Integration, fnrs: set[str]) -> dict[str, str]:
    if not fnrs:
        return {}
    served = Patient.objects.filter(served_by_centre(integration.centre)).only("id", "national_id", "status")
    return {fnr: str(patient.pk) for fnr, patient in records_by_national_id(served, fnrs).items()}


def _fhir_store(integration: Integration, entries: list[tuple[dict, str | None]], request, unsupported=None):
    """Convert and store FHIR Observations (resource, fullUrl) through the same path as JSON items;
    → (one result per entry, the failed ones as (index, resource, errors)). Keeps nothing in the
    quarantine: batch and transaction differ in what they keep. `unsupported`: the entries of a batch
    that ask for something other than a create (index → errors), answered "not-supported" and not
    counted as failed: what they ask is not done, and they hold no reading to keep."""
    unsupported = unsupported or {}
    converted = [observation_to_item(resource, full_url) for resource, full_url in entries]
    patients = _fnr_to_patient(integration, {c.fnr for c in converted if c.fnr})
    results: list[ItemResult | None] = [None] * len(entries)
    items, positions, failed = [], [], []
    for index, c in enumerate(converted):
        if index in unsupported:
            results[index] = ItemResult(index, "not-supported", errors=unsupported[index])
            continue
        if c.fnr and not c.errors:
            assert c.item is not None  # a conversion without errors has its item
            if c.fnr in patients:
                c.item["patient_id"] = patients[c.fnr]
            else:
                c.errors.append(UNKNOWN_PATIENT)
        if c.errors:
            errors = [e.as_dict() for e in c.errors]
            failed.append((index, entries[index][0], errors))
            results[index] = ItemResult(index, "rejected", errors=errors)
        else:
            items.append(c.item)
            positions.append(index)
    stored = readings_ingest(integration=integration, items=items, request=request, quarantine=False)
    for position, result in zip(positions, stored, strict=True):
        result.index = position
        result.errors = located(result.errors, converted[position].positions)
        results[position] = result
        if result.status == "rejected":
            failed.append((position, entries[position][0], result.errors))
    return results, sorted(failed, key=lambda f: f[0])


@transaction.atomic(savepoint=False)  # as readings_ingest
def fhir_ingest(
    *, integration: Integration, entries: list[tuple[dict, str | None]], request=None, unsupported=None
) -> list[ItemResult]:
    """FHIR Observations (resource, fullUrl) → readings, each on its own (a single create, a batch);
    `unsupported` as _fhir_store."""
    results, failed = _fhir_store(integration, entries, request, unsupported)
    # One quarantine for the request, of what the gateway actually sent (the FHIR resource, not our
    # conversion of it): all of it kept, or (the day's cap reached) all of it refused.
    if not _quarantine(integration, "fhir", failed, request, [url for _resource, url in entries]):
        _refuse(results, [index for index, _raw, _errors in failed])
    return results


@dataclass
class TransactionOutcome:
    stored: bool  # True: every entry stored (or a duplicate); False: nothing stored
    results: list[ItemResult]  # one per entry; when not stored, only the failed ones' errors count
    failed: list[tuple[int, dict, list[dict]]] = field(default_factory=list)  # (index, resource, errors)
    kept: bool = True  # the refused transaction is in the quarantine (False: it was full, 429)


class _TransactionFailed(Exception):
    """Rolls back the savepoint of a transaction Bundle with a bad entry."""


NOT_STORED_IN_TRANSACTION = "ikke lagret: transaksjonen ble avvist fordi {bad} var feil; denne entry var gyldig"


@transaction.atomic
def fhir_transaction(*, integration: Integration, entries: list[tuple[dict, str | None]], request=None):
    """A FHIR transaction Bundle: all or nothing. Every entry is stored as in a batch, inside a
    savepoint; if one entry fails, the savepoint is rolled back (readings, their audit events and
    their queued scoring alike) and every entry, the valid ones too, is kept in the quarantine with
    its own reasons, so nothing the device sent is lost and the centre admin can send each one in
    again. Kept whole or (the day's cap reached) not at all, as a batch's rejects are."""
    failed: list = []
    try:
        with transaction.atomic():
            results, failed = _fhir_store(integration, entries, request)
            if failed:
                raise _TransactionFailed
    except _TransactionFailed:
        bad = ", ".join(f"entry[{index}]" for index, _raw, _errors in failed)
        reasons = {index: errors for index, _raw, errors in failed}
        note = [{"field": "Bundle", "message": NOT_STORED_IN_TRANSACTION.format(bad=bad)}]
        everything = [(index, resource, reasons.get(index, note)) for index, (resource, _url) in enumerate(entries)]
        kept = _quarantine(integration, "fhir", everything, request, [url for _resource, url in entries])
        results = [ItemResult(index, "rejected", errors=reasons.get(index, [])) for index in range(len(entries))]
        return TransactionOutcome(stored=False, results=results, failed=failed, kept=kept)
    return TransactionOutcome(stored=True, results=results)
