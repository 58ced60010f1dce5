"""The henvisning process before oppstart: henvisning → vurdering → vedtak (with klage) → samtykke.

Every step writes a StatusChange row through `status.referral_change_record` (received, assessed,
granted, refused), so the referral's status is derived from its rows like the patient's.

Who: the users whose scope reaches the referral's municipality as nurse or koordinator (a koordinator
for their own municipality, a centre nurse for the municipalities the centre follows up, a
municipality's own nurse for their own) — `patients.access.can_register_for`.

Privacy: registering a national id looks only in the user's own scope (`visible_patients`). A person
known there is linked (`referral.patient`); anyone else is answered exactly as a new person, whether
or not a Patient with that id exists in another municipality: no uniqueness error, nothing linked.

The Patient record comes with the grant (`decision_record`): the referral's linked patient, or this
municipality's record of the national id, is used as it is; otherwise a new Patient is created
(`access.patient_create`) with status «venter på oppstart» (pending) holding only what this kommune
entered. If the person has a record in another municipality, that record is not touched: its side
gets a «mulig flytting» notice and decides (patients.services.moves). The answer is the same either
way, so a grant learns nothing of other kommuner.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from patients.access import can_record_consent, can_register_for, require
from patients.models import (
    ASSESSMENT_CRITERIA,
    Appeal,
    AppealOutcome,
    Assessment,
    Consent,
    ConsentGivenBy,
    ConsentMethod,
    CriterionAnswer,
    Decision,
    DecisionOutcome,
    Patient,
    PatientStatus,
    Referral,
    ReferralStatus,
    Referrer,
    StatusEvent,
    validate_national_id,
)
from patients.selectors import visible_patients
from patients.services.fastlege import FastlegeRefused, audit_outside_offered, fastlege_check
from patients.services.moves import move_notices_raise
from patients.services.record import patient_create
from patients.services.status import NoPatientYet, referral_change_record
from tenants.errors import NotAllowed, Refused
from tenants.models import AuditAction
from tenants.norwegian import date_text, datetime_text
from tenants.people import display_name
from tenants.services import audit_record

OPEN_STATUSES = (ReferralStatus.RECEIVED, ReferralStatus.ASSESSED, ReferralStatus.GRANTED)


class ReferralRefused(Refused):
    """The step cannot be made as asked (message in Norwegian, safe to show; the API's 400)."""


class ReferralRoleRequired(NotAllowed):
    """Only the municipality's koordinator and the nurses who follow it up handle its referrals (403)."""


ROLE_REQUIRED = "Bare koordinator og sykepleiere som følger opp kommunen, kan behandle henvisninger."


def _require_role(user, municipality_id: int) -> None:
    require(can_register_for, user, municipality_id, ReferralRoleRequired(ROLE_REQUIRED))


def _audit(*, action, object_type: str, object_id, referral: Referral, user, request) -> None:
    subject = referral.patient or NoPatientYet(municipality_id=referral.municipality_id)
    audit_record(action=action, object_type=object_type, object_id=object_id, patient=subject, request=request,
                 user=user)  # fmt: skip


def _today() -> datetime.date:
    return timezone.localdate()


# --- henvisning -----------------------------------------------------------------------------------


@transaction.atomic
def referral_register(
    *,
    user,
    municipality,
    national_id: str,
    name: str,
    referrer: str,
    reason: str,
    referrer_name: str = "",
    diagnoses=(),
    gp=None,
    gp_outside_offered: bool = False,
    phone: str = "",
    next_of_kin: str = "",
    received_on: datetime.date | None = None,
    request=None,
) -> Referral:
    """Register a henvisning. Looks only inside the user's scope (see the module's privacy rule).
    The fastlege: one of those offered for the municipality, or another one known to the platform
    as an explicit choice (`gp_outside_offered`, audited) — patients.services.fastlege."""
    _require_role(user, municipality.pk)
    national_id = (national_id or "").replace(" ", "")
    try:
        validate_national_id(national_id)
    except ValidationError as exc:
        raise ReferralRefused(f"Fødselsnummer: {exc.messages[0]}") from None
    if not (name or "").strip():
        raise ReferralRefused("Navn må fylles ut.")
    if referrer not in Referrer.values:
        raise ReferralRefused("Velg hvem som henviste.")
    if not (reason or "").strip():
        raise ReferralRefused("Begrunnelse for henvisningen må fylles ut.")
    try:
        outside = gp is not None and fastlege_check(
            municipality_ids=[municipality.pk], gp=gp, outside_offered=gp_outside_offered
        )
    except FastlegeRefused as exc:
        raise ReferralRefused(str(exc)) from None
    received_on = received_on or _today()
    if received_on > _today():
        raise ReferralRefused("Mottatt-datoen kan ikke være fram i tid.")
    # One registration of a person at a time per kommune: two clicks on «Registrer henvisning» (or
    # an API call sent again) make one henvisning; the second waits for the first and is refused.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"referral:{municipality.pk}:{national_id}"])
    open_here = Referral.objects.filter(municipality=municipality, national_id=national_id, status__in=OPEN_STATUSES)
    if open_here.exists():
        raise ReferralRefused(f"Personen har allerede en åpen henvisning i {municipality.name}.")
    referral = Referral(
        municipality=municipality,
        # Only this municipality's record: a person known elsewhere is answered as a new one. Not a
        # record merged into one that moved here (ended with the merge): the living one goes on.
        patient=visible_patients(user)
        .filter(national_id=national_id, municipality=municipality, merged_into=None)
        .first(),
        national_id=national_id,
        name=name.strip(),
        referrer=referrer,
        referrer_name=(referrer_name or "").strip(),
        diagnoses=list(diagnoses),
        reason=reason.strip(),
        gp=gp,
        phone=(phone or "").strip(),
        next_of_kin=(next_of_kin or "").strip(),
        created_by=user,
    )
    referral.save()
    _audit(action=AuditAction.CREATE, object_type="referral", object_id=referral.pk, referral=referral, user=user,
           request=request)  # fmt: skip
    if outside:
        subject = referral.patient or NoPatientYet(municipality_id=referral.municipality_id)
        audit_outside_offered(patient=subject, gp=gp, user=user, request=request)
    referral_change_record(referral=referral, event=StatusEvent.RECEIVED, user=user, effective_date=received_on,
                           request=request)  # fmt: skip
    return referral


def _locked(referral: Referral) -> Referral:
    # One step at a time per referral: two clicks on «Fatt vedtak» make one decision.
    locked = Referral.objects.select_for_update(of=("self",))  # not the nullable patient join
    return locked.select_related("municipality", "patient").get(pk=referral.pk)


# --- vurdering ------------------------------------------------------------------------------------


def _clean_criteria(criteria: dict) -> dict:
    cleaned = {}
    for code, label in ASSESSMENT_CRITERIA.items():
        given = (criteria or {}).get(code) or {}
        answer = given.get("answer") if isinstance(given, dict) else None
        if answer not in CriterionAnswer.values:
            raise ReferralRefused(f"Kriteriet «{label}» mangler svar (ja, nei eller vet ikke).")
        cleaned[code] = {"answer": answer, "comment": str(given.get("comment") or "").strip()}
    unknown = set(criteria or {}) - set(ASSESSMENT_CRITERIA)
    if unknown:
        raise ReferralRefused(f"Ukjent kriterium: {', '.join(sorted(unknown))}.")
    return cleaned


# The same vurdering twice: the referral's latest, with the same answers, comments and kartlegging,
# recorded this short while ago. Two clicks on «Registrer vurdering» (or the form sent again) would
# otherwise write two vurderinger and two «Vurdert» rows in the history; a vurdering made again on
# purpose changes something, or comes later.
ASSESSMENT_REPEAT_WINDOW = datetime.timedelta(minutes=10)


def _assessment_repeat(referral: Referral, criteria: dict, what_matters: str) -> Assessment | None:
    """The referral's latest vurdering if it is this one, just recorded; read under the referral's
    lock (`_locked`), so of two simultaneous submits the second sees the first."""
    latest = referral.assessments.select_related("assessed_by").order_by("-assessed_at", "-pk").first()
    if latest is None or latest.assessed_at < timezone.now() - ASSESSMENT_REPEAT_WINDOW:
        return None
    return latest if (latest.criteria, latest.what_matters) == (criteria, what_matters) else None


@transaction.atomic
def assessment_record(*, referral: Referral, user, criteria: dict, what_matters: str = "", request=None) -> Assessment:
    """The vurdering: every criterion answered, and the kartlegging. May be repeated until the vedtak."""
    _require_role(user, referral.municipality_id)
    referral = _locked(referral)
    if referral.status not in (ReferralStatus.RECEIVED, ReferralStatus.ASSESSED):
        raise ReferralRefused(
            f"Henvisningen kan ikke vurderes når den har status «{str(referral.get_status_display()).lower()}»."
        )
    cleaned, matters = _clean_criteria(criteria), (what_matters or "").strip()
    repeat = _assessment_repeat(referral, cleaned, matters)
    if repeat is not None:
        raise ReferralRefused(
            f"Denne vurderingen ble registrert {datetime_text(repeat.assessed_at, kl=True)} av "
            f"{display_name(repeat.assessed_by)}. Den er ikke registrert på nytt."
        )
    assessment = Assessment.objects.create(referral=referral, criteria=cleaned, what_matters=matters, assessed_by=user)
    _audit(action=AuditAction.CREATE, object_type="assessment", object_id=assessment.pk, referral=referral,
           user=user, request=request)  # fmt: skip
    referral_change_record(referral=referral, event=StatusEvent.ASSESSED, user=user, request=request)
    return assessment


# --- vedtak ---------------------------------------------------------------------------------------


def _check_period(period_from, period_to, evaluation_date) -> None:
    if period_to is None:
        raise ReferralRefused("Et innvilget vedtak må ha en periode: fyll ut til-dato.")
    if period_to <= period_from:
        raise ReferralRefused(f"Periodens til-dato må være etter fra-datoen ({date_text(period_from)}).")
    if evaluation_date is None:
        raise ReferralRefused("Et innvilget vedtak må ha en evalueringsdato.")
    if not period_from <= evaluation_date <= period_to:
        raise ReferralRefused(
            f"Evalueringsdatoen må ligge innenfor perioden {date_text(period_from)}–{date_text(period_to)}."
        )


def _patient_for_grant(*, referral: Referral, user, request) -> Patient:
    """The referral's municipality's record of the person, or a new one holding only what this
    kommune entered. A record elsewhere is never touched here: its side is asked (moves)."""
    patient = (
        referral.patient
        or Patient.objects.filter(
            national_id=referral.national_id, municipality_id=referral.municipality_id, merged_into=None
        ).first()
    )
    if patient is not None:
        _contact_info_from(referral, patient, user=user, request=request)
        return patient
    patient = patient_create(
        municipality=referral.municipality, name=referral.name, national_id=referral.national_id,
        gp=referral.gp, diagnoses=referral.diagnoses, status=PatientStatus.PENDING, phone=referral.phone,
        next_of_kin=referral.next_of_kin,
    )  # fmt: skip
    audit_record(action=AuditAction.CREATE, object_type="patient", object_id=patient.pk, patient=patient,
                 request=request, user=user)  # fmt: skip
    move_notices_raise(own=patient, user=user, request=request)
    return patient


def decision_preview(
    *,
    referral: Referral,
    user,
    outcome: str,
    reason: str,
    period_from: datetime.date | None = None,
    period_to: datetime.date | None = None,
    evaluation_date: datetime.date | None = None,
) -> Decision:
    """The enkeltvedtak as `decision_record` would store it, unsaved and refused alike: the
    confirmation page shows its letter (hjemmel included) before anything is recorded."""
    _require_role(user, referral.municipality_id)
    if Decision.objects.filter(referral=referral).exists():
        raise ReferralRefused("Henvisningen har allerede et vedtak. Endringer går gjennom klage.")
    if referral.status != ReferralStatus.ASSESSED:
        raise ReferralRefused("Henvisningen må vurderes før det kan fattes vedtak.")
    if outcome not in DecisionOutcome.values:
        raise ReferralRefused("Velg om søknaden innvilges eller avslås.")
    if not (reason or "").strip():
        raise ReferralRefused("Vedtaket må ha en begrunnelse.")
    if outcome == DecisionOutcome.GRANTED:
        period_from = period_from or _today()
        received = referral.status_changes.filter(event=StatusEvent.RECEIVED).values_list("effective_date", flat=True)
        received_on = received.first()
        if received_on is not None and period_from < received_on:
            raise ReferralRefused(
                f"Periodens fra-dato kan ikke være før henvisningen ble mottatt ({date_text(received_on)})."
            )
        _check_period(period_from, period_to, evaluation_date)
    else:
        period_from = period_to = evaluation_date = None
    return Decision(
        referral=referral, outcome=outcome, reason=reason.strip(), legal_basis=referral.municipality.legal_basis,
        period_from=period_from, period_to=period_to, evaluation_date=evaluation_date, decided_by=user,
    )  # fmt: skip


def _contact_info_from(referral: Referral, patient: Patient, *, user, request) -> None:
    """A record that exists already takes what the henvisning gave (newer than what it holds); a
    field the henvisning left empty keeps the record's value."""
    given = {f: getattr(referral, f) for f in ("phone", "next_of_kin")}
    changed = [f for f, value in given.items() if value and value != getattr(patient, f)]
    if not changed:
        return
    for name in changed:
        setattr(patient, name, getattr(referral, name))
    patient.save(update_fields=changed)
    audit_record(action=AuditAction.UPDATE, object_type="patient_contact_info", object_id=patient.pk,
                 patient=patient, request=request, user=user)  # fmt: skip


@transaction.atomic
def decision_record(
    *,
    referral: Referral,
    user,
    outcome: str,
    reason: str,
    period_from: datetime.date | None = None,
    period_to: datetime.date | None = None,
    evaluation_date: datetime.date | None = None,
    request=None,
) -> Decision:
    """The enkeltvedtak. Granted: a period and an evaluation date within it, and the Patient record
    (module docstring). Refused: the referral ends with the begrunnelse. A referral is decided once."""
    _require_role(user, referral.municipality_id)
    referral = _locked(referral)
    decision = decision_preview(
        referral=referral, user=user, outcome=outcome, reason=reason, period_from=period_from,
        period_to=period_to, evaluation_date=evaluation_date,
    )  # fmt: skip
    decision.save()
    granted = decision.outcome == DecisionOutcome.GRANTED
    today = _today()
    if granted:
        referral.patient = _patient_for_grant(referral=referral, user=user, request=request)
        referral.save(update_fields=["patient"])
    _audit(action=AuditAction.CREATE, object_type="decision", object_id=decision.pk, referral=referral, user=user,
           request=request)  # fmt: skip
    event = StatusEvent.GRANTED if granted else StatusEvent.REFUSED
    referral_change_record(referral=referral, event=event, user=user, effective_date=today,
                           note="" if granted else decision.reason, request=request)  # fmt: skip
    return decision


# --- klage ----------------------------------------------------------------------------------------


@transaction.atomic
def appeal_register(*, referral: Referral, user, received_on: datetime.date, note: str = "", request=None) -> Appeal:
    """A received klage on the referral's vedtak (one at a time)."""
    _require_role(user, referral.municipality_id)
    referral = _locked(referral)
    decision = Decision.objects.filter(referral=referral).first()
    if decision is None:
        raise ReferralRefused("Det finnes ikke noe vedtak å klage på.")
    if decision.appeals.filter(outcome=AppealOutcome.PENDING).exists():
        raise ReferralRefused("Det er allerede en klage til behandling på dette vedtaket.")
    if received_on is None or received_on > _today():
        raise ReferralRefused("Oppgi når klagen ble mottatt (ikke fram i tid).")
    decided_on = timezone.localtime(decision.decided_at).date()
    if received_on < decided_on:
        raise ReferralRefused(f"Klagen kan ikke være mottatt før vedtaket ble fattet ({date_text(decided_on)}).")
    appeal = Appeal.objects.create(decision=decision, received_on=received_on, note=(note or "").strip(),
                                   recorded_by=user)  # fmt: skip
    _audit(action=AuditAction.CREATE, object_type="appeal", object_id=appeal.pk, referral=referral, user=user,
           request=request)  # fmt: skip
    return appeal


@transaction.atomic
def appeal_decide(
    *, referral: Referral, user, outcome: str, decided_on: datetime.date | None = None, note: str = "", request=None
) -> Appeal:
    """The outcome of the pending klage: the vedtak upheld or reversed."""
    _require_role(user, referral.municipality_id)
    referral = _locked(referral)
    appeal = Appeal.objects.filter(decision__referral=referral, outcome=AppealOutcome.PENDING).first()
    if appeal is None:
        raise ReferralRefused("Det finnes ingen klage til behandling på denne henvisningen.")
    if outcome not in (AppealOutcome.UPHELD, AppealOutcome.REVERSED):
        raise ReferralRefused("Velg om vedtaket er opprettholdt eller omgjort.")
    decided_on = decided_on or _today()
    if not appeal.received_on <= decided_on <= _today():
        raise ReferralRefused(f"Avgjørelsesdatoen må ligge mellom {date_text(appeal.received_on)} og i dag.")
    appeal.outcome, appeal.outcome_on = outcome, decided_on
    if note:
        appeal.note = "\n".join(part for part in (appeal.note, note.strip()) if part)
    appeal.save(update_fields=["outcome", "outcome_on", "note"])
    _audit(action=AuditAction.UPDATE, object_type="appeal", object_id=appeal.pk, referral=referral, user=user,
           request=request)  # fmt: skip
    return appeal


# --- samtykke -------------------------------------------------------------------------------------


def consent_given(patient: Patient) -> bool:
    """Whether the patient has a recorded samtykke in their current municipality (oppstart needs it)."""
    return patient.consents.filter(municipality_id=patient.municipality_id).exists()


def _consent_same(patient: Patient, *, given_by: str, method: str, given_on: datetime.date, name: str,
                  role: str) -> Consent | None:  # fmt: skip
    """The same samtykke already recorded in the patient's kommune: given by the same person (the
    patient, or the representative of that name and role, whatever the case of the letters), in the
    same form, on the same day. A samtykke is not withdrawn here, so that one stands: two clicks on
    «Registrer samtykke» (or the form sent again) are one samtykke. Another form, day or person is
    a samtykke of its own (a written one after a verbal one, say)."""
    given = patient.consents.filter(municipality_id=patient.municipality_id, given_by=given_by, method=method)
    person = given.filter(representative_name__iexact=name, representative_role__iexact=role)
    return person.filter(given_on=given_on).order_by("recorded_at").first()


def _consent_words(consent: Consent) -> str:
    """«skriftlig, gitt av pasienten 06.12.2026» (or «… av representanten Ola Nordmann (sønn) …»)."""
    who = "pasienten"
    if consent.given_by == ConsentGivenBy.REPRESENTATIVE:
        who = f"representanten {consent.representative_name} ({consent.representative_role})"
    return f"{str(ConsentMethod(consent.method).label).lower()}, gitt av {who} {date_text(consent.given_on)}"


@transaction.atomic
def consent_record(
    *,
    patient: Patient,
    user,
    given_by: str,
    method: str,
    given_on: datetime.date | None,
    representative_name: str = "",
    representative_role: str = "",
    request=None,
) -> Consent:
    """The samtykke, recorded before oppstart; linked to the patient's granted referral when there is one."""
    require(can_record_consent, user, patient, ReferralRoleRequired(ROLE_REQUIRED))
    if given_by not in ConsentGivenBy.values:
        raise ReferralRefused("Velg hvem som ga samtykket: pasienten eller en representant.")
    representative = given_by == ConsentGivenBy.REPRESENTATIVE
    name, role = (representative_name or "").strip(), (representative_role or "").strip()
    if representative and not (name and role):
        raise ReferralRefused("Samtykke fra en representant: oppgi representantens navn og rolle.")
    if method not in ConsentMethod.values:
        raise ReferralRefused("Velg om samtykket er skriftlig eller muntlig.")
    if given_on is None or given_on > _today():
        raise ReferralRefused("Oppgi når samtykket ble gitt (ikke fram i tid).")
    # One registration at a time per patient, so that of two simultaneous submits the second sees the first.
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    same = _consent_same(patient, given_by=given_by, method=method, given_on=given_on,
                         name=name if representative else "", role=role if representative else "")  # fmt: skip
    if same is not None:
        raise ReferralRefused(
            f"Samtykket er allerede registrert: {_consent_words(same)}, registrert "
            f"{datetime_text(same.recorded_at, kl=True)}. Det er ikke registrert på nytt."
        )
    referral = patient.referrals.filter(municipality_id=patient.municipality_id, status=ReferralStatus.GRANTED).first()
    consent = Consent.objects.create(
        patient=patient, municipality_id=patient.municipality_id, referral=referral, given_by=given_by,
        representative_name=name if representative else "", representative_role=role if representative else "",
        method=method, given_on=given_on, recorded_by=user,
    )  # fmt: skip
    audit_record(action=AuditAction.CREATE, object_type="consent", object_id=consent.pk, patient=patient,
                 request=request, user=user)  # fmt: skip
    return consent
