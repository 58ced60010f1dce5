"""The one way to read patients: every page, API view, export and task goes through here."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Case, OuterRef, Prefetch, Q, QuerySet, Subquery, Value, When
from django.db.models.expressions import RawSQL
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.access import GP_PERMISSION, SHARE_PERMISSION, referral_municipality_ids, register_centre_ids
from patients.forlop import (
    DEFAULT_EVALUATION_MONTHS,
    evaluation_due,
    evaluation_interval,
    evaluation_set_on,
    evaluation_soon,
)
from patients.models import (
    Consent,
    Decision,
    Device,
    DeviceLoan,
    DeviceType,
    Kit,
    MoveNotice,
    MoveState,
    Patient,
    PatientStatus,
    PatientUserObjectPermission,
    Referral,
    Start,
    StatusChange,
    StatusEvent,
)
from tenants.compiled import NO_ID, NO_OTHER_ID, NO_UUID, CompiledQuery
from tenants.models import Agreement, Centre, Municipality, Role
from tenants.norwegian import date_text
from tenants.selectors import centre_of, user_scope

User = get_user_model()


def _object_permissions(scope) -> tuple[str, ...]:
    """The object permissions that open patients to this scope: the fastlege's, the specialist's."""
    return (GP_PERMISSION,) * scope.has(Role.GP) + (SHARE_PERMISSION,) * scope.has(Role.SPECIALIST)


def _visible(user_id, municipalities, codenames: tuple[str, ...]) -> Q:
    condition = Q(municipality_id__in=municipalities)
    if codenames:
        permitted = PatientUserObjectPermission.objects.filter(
            user_id=user_id, permission__codename__in=codenames
        ).values("content_object_id")
        condition |= Q(id__in=permitted)
    return condition


def visible_patients(user) -> QuerySet[Patient]:
    """Patients this user may see, by the scope table (docs/access-and-audit.md). Finance and admins: none."""
    scope = user_scope(user)
    codenames = _object_permissions(scope)
    if not scope.municipality_ids and not codenames:
        return Patient.objects.none()
    return Patient.objects.filter(_visible(user.pk, scope.municipality_ids, codenames))


# One patient by id within the user's scope (`visible_patients`), as every patient page and API asks
# it: compiled once per process and set of object permissions (tenants/compiled.py), the scope's
# kommuner as one array parameter. The markers are ids no row has.
def _one_visible(codenames, user_id, municipality_ids, patient_id) -> QuerySet[Patient]:
    municipalities = RawSQL("SELECT unnest(%s::bigint[])", [municipality_ids])
    visible = Patient.objects.filter(_visible(user_id, municipalities, codenames), id=patient_id)
    return visible.select_related("municipality", "gp")[:1]


_MARKS = {"municipality_ids": [NO_OTHER_ID], "patient_id": NO_UUID}
_ONE_VISIBLE = CompiledQuery(lambda _key, **marks: _one_visible((), None, **marks), **_MARKS)
_ONE_PERMITTED = CompiledQuery(lambda codenames, **marks: _one_visible(codenames, **marks), user_id=NO_ID, **_MARKS)


def get_patient_for(user, patient_id) -> Patient:
    """The patient if this user may see it; Http404 for a missing and a foreign one alike."""
    try:
        patient_uuid = uuid.UUID(str(patient_id))
    except ValueError:
        raise Http404 from None
    scope = user_scope(user)
    codenames = _object_permissions(scope)
    if not scope.municipality_ids and not codenames:
        raise Http404
    values = {"municipality_ids": list(scope.municipality_ids), "patient_id": patient_uuid}
    if codenames:
        found = _ONE_PERMITTED.first(codenames, user_id=user.pk, **values)
    else:
        found = _ONE_VISIBLE.first(None, **values)
    if found is None:
        raise Http404
    return found


def visible_referrals(user) -> QuerySet[Referral]:
    """Referrals of the municipalities this user handles as nurse or koordinator (not fastlege or
    specialist: a henvisning is the municipality's case, before any object permission exists)."""
    return Referral.objects.filter(municipality_id__in=referral_municipality_ids(user))


def with_visible_patient(referrals: QuerySet[Referral], user) -> QuerySet[Referral]:
    """The referrals with their municipality, and their patient where this user may see the patient.
    After a move the record belongs to the new kommune: the old kommune keeps its referral (its
    case, its vedtak) but `referral.patient` is None for it — not the new kommune's phone, pårørende
    and samtykker. The link itself (`patient_id`) is kept, so saving the referral changes nothing."""
    return referrals.select_related("municipality").prefetch_related(
        Prefetch("patient", queryset=visible_patients(user))
    )


def get_referral_for(user, referral_id) -> Referral:
    """The referral if this user handles it; Http404 for a missing and a foreign one alike."""
    try:
        referral_uuid = uuid.UUID(str(referral_id))
    except ValueError:
        raise Http404 from None
    referral = with_visible_patient(visible_referrals(user), user).filter(id=referral_uuid).first()
    if referral is None:
        raise Http404
    return referral


# --- the forløp board (the koordinator's landing page) -------------------------------------------

ENDED_SHOWN_DAYS = 90
OPEN_REFERRAL = ("received", "assessed", "granted")


@dataclass(frozen=True)
class BoardRow:
    """One line of the board: a referral (before the Patient exists) or a patient, and who acts next."""

    kind: str  # "referral" | "patient"
    pk: uuid.UUID
    name: str
    municipality: str
    since: datetime.date | None
    waiting: str
    municipality_id: int
    patient: Patient | None  # the audit log's subject; None before the grant


@dataclass(frozen=True)
class BoardSection:
    key: str
    title: str
    rows: list[BoardRow]

    @property
    def count(self) -> int:
        return len(self.rows)


def board_municipalities(user) -> QuerySet[Municipality]:
    """The municipalities whose forløp this user follows on the board (nurse or koordinator there)."""
    return Municipality.objects.filter(pk__in=referral_municipality_ids(user)).order_by("name")


def _since(changes: dict, pk, event: str) -> datetime.date | None:
    return changes.get((pk, event))


def forlop_board(user, *, municipality: str = "") -> list[BoardSection]:
    """The forløp of the user's municipalities (or the one kommunenummer asked for), a section per
    stage with what each one waits for. A constant number of queries, whatever the rows."""
    ids = referral_municipality_ids(user)
    if municipality:
        ids = list(Municipality.objects.filter(pk__in=ids, number=municipality).values_list("pk", flat=True))
    today = timezone.localdate()
    ended_since = today - datetime.timedelta(days=ENDED_SHOWN_DAYS)
    referrals = list(
        Referral.objects.filter(municipality_id__in=ids)
        .filter(Q(status__in=OPEN_REFERRAL) | Q(status="refused", decision__decided_at__date__gte=ended_since))
        .select_related("municipality", "patient")
        .order_by("created_at")
    )
    patients = list(
        # A record merged into one that moved here ended with the merge: the forløp goes on in that one.
        Patient.objects.filter(municipality_id__in=ids, status__in=("active", "paused", "ended"), merged_into=None)
        .select_related("municipality")
        .annotate(
            # the evaluation date set (patients.forlop.evaluation_set_on): at the last evaluation, or the vedtak's
            next_evaluation=Subquery(
                Start.objects.filter(patient=OuterRef("pk"))
                .order_by("-started_on", "-at")
                .values("next_evaluation")[:1]
            ),
            vedtak_evaluation_date=Subquery(
                Decision.objects.filter(referral__patient=OuterRef("pk"), outcome="granted")
                .order_by("-decided_at")
                .values("evaluation_date")[:1]
            ),
        )
        .order_by("name", "id")
    )
    changes = {}
    for row in StatusChange.objects.filter(
        Q(referral__in=[r.pk for r in referrals]) | Q(patient__in=[p.pk for p in patients])
    ).values("referral_id", "patient_id", "event", "effective_date"):
        for pk in (row["referral_id"], row["patient_id"]):
            if pk:
                changes[(pk, row["event"])] = row["effective_date"]  # ordered: the latest wins
    consented = set(
        Consent.objects.filter(patient__in=[r.patient_id for r in referrals if r.patient_id]).values_list(
            "patient_id", "municipality_id"
        )
    )
    # A granted referral waits for oppstart, unless its patient's forløp runs already (a new vedtak,
    # a new period): that one stays among the active or paused, and is not counted twice.
    running = {p.pk for p in patients if p.status in ("active", "paused")}
    referrals = [r for r in referrals if not (r.status == "granted" and r.patient_id in running)]
    evaluation_on = {p.pk: evaluation_set_on(p.next_evaluation, p.vedtak_evaluation_date) for p in patients}
    ended = [p for p in patients if p.status == "ended" and (_since(changes, p.pk, "ended") or today) >= ended_since]
    return [
        BoardSection("received", _("Mottatt"), [
            _referral_row(r, changes, "received", _("Venter på vurdering")) for r in referrals if r.status == "received"
        ]),
        BoardSection("assessed", _("Vurdert"), [
            _referral_row(r, changes, "assessed", _("Venter på vedtak")) for r in referrals if r.status == "assessed"
        ]),
        BoardSection("granted", _("Innvilget – før oppstart"), [
            _referral_row(r, changes, "granted", _("Venter på oppstart")
                          if (r.patient_id, r.municipality_id) in consented else _("Venter på samtykke"))
            for r in referrals if r.status == "granted"
        ]),
        BoardSection("active", _("Aktive"), [
            _patient_row(p, changes, "started", _("Følges opp av senteret")) for p in patients if p.status == "active"
        ]),
        BoardSection("due", _("Evaluering forfaller"), [
            _patient_row(p, changes, "started", _("Evaluering %(date)s") % {"date": date_text(evaluation_on[p.pk])})
            for p in patients
            if p.status in ("active", "paused") and evaluation_soon(evaluation_on[p.pk], today)
        ]),
        BoardSection("paused", _("Pause"), [
            _patient_row(p, changes, "paused", p.pause_text(today)) for p in patients if p.status == "paused"
        ]),
        BoardSection("ended", _("Avsluttet siste 90 dager"), [
            *[_referral_row(r, changes, "refused", _("Avslått")) for r in referrals if r.status == "refused"],
            *[_patient_row(p, changes, "ended", _("Avsluttet")) for p in ended],
        ]),
    ]  # fmt: skip


def _referral_row(referral: Referral, changes: dict, event: str, waiting) -> BoardRow:
    return BoardRow("referral", referral.pk, referral.name, referral.municipality.name,
                    _since(changes, referral.pk, event), str(waiting), referral.municipality_id,
                    referral.patient)  # fmt: skip


def _patient_row(patient: Patient, changes: dict, event: str, waiting) -> BoardRow:
    return BoardRow("patient", patient.pk, patient.name, patient.municipality.name,
                    _since(changes, patient.pk, event), str(waiting), patient.municipality_id, patient)  # fmt: skip


def board_audit_subjects(sections: list[BoardSection]) -> tuple[list[Patient], list[BoardRow]]:
    """Whose data a board shows, for the audit log: the patients, and the referrals without one."""
    patients, referrals = {}, []
    for row in (row for section in sections for row in section.rows):
        if row.patient is not None:
            patients[row.patient.pk] = row.patient
        else:
            referrals.append(row)
    return list(patients.values()), referrals


# --- evaluering -----------------------------------------------------------------------------------


def evaluation_months(municipality_id: int) -> int:
    """How often the centre that serves the kommune evaluates a forløp («hver N. måned»)."""
    centre = centre_of(municipality_id)
    return centre.evaluation_months if centre else DEFAULT_EVALUATION_MONTHS


def evaluation_due_on(patient: Patient, approved_at: datetime.datetime | None) -> datetime.date | None:
    """When the patient's forløp is (or was) due its evaluation (patients.forlop.evaluation_due, as
    the follow-up list reckons it), with the months of the centre that serves the patient's kommune.
    `approved_at`: when the plan in force was approved (the caller asks the plan's app)."""
    start = (
        Start.objects.filter(patient=patient)
        .order_by("-started_on", "-at")
        .values_list("started_on", "next_evaluation", "referral__decision__evaluation_date")
        .first()
    )
    found = evaluation_due(start, approved_at, evaluation_months(patient.municipality_id))
    return timezone.localdate(found[0]) if found else None


def next_evaluation_default(patient: Patient) -> datetime.date:
    """What the evaluation form proposes as the next date: the centre's interval from today."""
    return timezone.localdate() + evaluation_interval(evaluation_months(patient.municipality_id))


def evaluations_of(patient: Patient) -> list[StatusChange]:
    """The patient's recorded evaluations, newest first (the evaluation page shows the last few)."""
    rows = patient.status_changes.filter(event=StatusEvent.EVALUATED).select_related("by")
    return list(rows.order_by("-effective_date", "-at")[:5])


def serving_centres(municipality_id: int) -> list[int]:
    """The centres whose devices a patient of this municipality may borrow: its host centre and
    every centre with an active agreement (whoever follows the patients up)."""
    partners = Agreement.objects.active().filter(municipality_id=municipality_id).values("centre_id")
    return list(Centre.objects.filter(Q(host_id=municipality_id) | Q(id__in=partners)).values_list("id", flat=True))


def kit_names_for(patient: Patient) -> list[str]:
    """The kits the centres serving the patient's kommune lend (the oppstart form offers them)."""
    kits = Kit.objects.filter(centre_id__in=serving_centres(patient.municipality_id))
    return list(kits.order_by("name").values_list("name", flat=True).distinct())


def kits_for(user) -> QuerySet[Kit]:
    """The kits of the centres whose register this user keeps (the equipment page and the API)."""
    return Kit.objects.filter(centre_id__in=register_centre_ids(user)).select_related("centre")


def device_type_labels(codes) -> list[str]:
    """The Norwegian names of device type codes, in the order given (a kit's contents)."""
    labels = dict(DeviceType.choices)
    return [str(labels.get(code, code)) for code in codes]


# --- fastleger: who may be a patient's (the rule is patients.services.fastlege's) -----------------


def known_fastleger() -> QuerySet:
    """Every fastlege the platform knows: an active user with a fastlege membership."""
    return User.objects.filter(is_active=True, memberships__role=Role.GP)


def fastleger_with_places(gps: QuerySet, municipality_ids=None) -> QuerySet:
    """The fastleger by name, each with `gp_municipalities` and `gp_hpr_numbers` (the picker's label)."""
    # Over the fastlege memberships only (the filter joined them), named by kommune for the picker:
    # the offered list names the kommuner asked about, a search every kommune the fastlege practises in.
    where = Q(memberships__role=Role.GP, memberships__municipality__isnull=False)
    if municipality_ids is not None:
        where &= Q(memberships__municipality_id__in=municipality_ids)
    places = ArrayAgg("memberships__municipality__name", filter=where, distinct=True, default=[])
    hpr = ArrayAgg("memberships__hpr_number", filter=Q(memberships__role=Role.GP), distinct=True, default=[])
    return gps.annotate(gp_municipalities=places, gp_hpr_numbers=hpr).order_by("last_name", "first_name", "username")


def offered_fastleger(municipality_ids) -> QuerySet:
    """The fastleger offered for these municipalities: those practising there and those already
    following a resident there, by name, each with `gp_municipalities` and `gp_hpr_numbers`. One query."""
    ids = list(municipality_ids)
    following = Patient.objects.filter(municipality_id__in=ids, gp__isnull=False).values("gp_id")
    gps = known_fastleger().filter(Q(memberships__municipality_id__in=ids) | Q(pk__in=following)).distinct()
    return fastleger_with_places(User.objects.filter(pk__in=gps.values("pk")).filter(memberships__role=Role.GP), ids)


def fastleger_for(municipality_ids) -> QuerySet:
    """The fastleger offered for these municipalities, by name, each with `gp_municipalities` (the
    names of those among them where they practise): `offered_fastleger`."""
    return offered_fastleger(municipality_ids)


def referral_fastleger(user) -> QuerySet:
    """The fastleger offered to a henvisning registered by this user (the form's list): those of the
    municipalities whose referrals the user registers, and those following residents there. Anyone
    else only as an explicit choice (patients.services.fastlege)."""
    return fastleger_for(referral_municipality_ids(user))


def register_centres(user) -> QuerySet[Centre]:
    """The centres whose device register this user keeps (the equipment page)."""
    return Centre.objects.filter(id__in=register_centre_ids(user)).order_by("name")


def register_devices(user, *, state: str = "", type: str = "", search: str = "") -> QuerySet[Device]:
    """The user's registers with each device's open loan (`open_loans`), for the equipment page:
    by state, by type, and by a search in serial and model (any case)."""
    open_loans = DeviceLoan.objects.filter(returned_on__isnull=True).select_related("municipality", "patient")
    devices = devices_for(user).select_related("centre")
    if state:
        devices = devices.filter(state=state)
    if type:
        devices = devices.filter(type=type)
    search = (search or "").strip()
    if search:
        devices = devices.filter(Q(serial__icontains=search) | Q(model__icontains=search))
    return devices.prefetch_related(Prefetch("loans", queryset=open_loans, to_attr="open_loans")).order_by(
        "centre__name", "type", "serial"
    )


def search_patients(qs: QuerySet[Patient], *, search: str = "", municipality: str = "") -> QuerySet[Patient]:
    """Narrow an already scoped queryset: by name, by (start of) national id, by kommunenummer."""
    search = (search or "").strip()
    if search:
        digits = search.replace(" ", "")
        qs = qs.filter(national_id__startswith=digits) if digits.isdigit() else qs.filter(name__icontains=search)
    if municipality:
        qs = qs.filter(municipality__number=municipality)
    return qs


# --- equipment --------------------------------------------------------------------------------------


def devices_for(user) -> QuerySet[Device]:
    """The devices of the centres whose register this user keeps (nurse or admin there)."""
    return Device.objects.filter(centre_id__in=register_centre_ids(user))


def get_device_for(user, serial: str, centre: str = "") -> Device:
    """The device with this serial in the user's centres (`centre`: a slug, when the serial is in
    two of them); Http404 for a missing device and another centre's alike."""
    devices = devices_for(user).filter(serial__iexact=serial).select_related("centre")
    if centre:
        devices = devices.filter(centre__slug=centre)
    found = list(devices[:2])
    if len(found) != 1:
        raise Http404  # two centres of one user with the same serial: the caller names the centre
    return found[0]


# The patient page's own reads (the call sheet and the forløp), compiled once per process
# (tenants/compiled.py): the same three querysets on every page.
_STATUS_CHANGES = CompiledQuery(
    lambda _key, patient_id: StatusChange.objects.filter(patient_id=patient_id).select_related(
        "by", "municipality", "previous_municipality"
    ),
    patient_id=NO_UUID,
)
# Samtykker given for the record's own kommune (after a move, the old kommune's stay with its case).
_CONSENTS = CompiledQuery(
    lambda _key, patient_id, municipality_id: Consent.objects.filter(
        patient_id=patient_id, municipality_id=municipality_id
    ),
    patient_id=NO_UUID,
    municipality_id=NO_ID,
)
# What the page shows of a loan: the device and its centre, not who lent it (those users not joined in).
_LOANS_OUT = CompiledQuery(
    lambda _key, patient_id: DeviceLoan.objects.filter(patient_id=patient_id, returned_on__isnull=True).select_related(
        "device__centre"
    ),
    patient_id=NO_UUID,
)


@dataclass(frozen=True)
class RecordPage:
    """The patient page's forløp, samtykker and equipment on loan (the scope checked by the caller)."""

    status_changes: list[StatusChange]  # oldest first
    consents: list[Consent]  # newest first
    loans: list[DeviceLoan]  # what the patient still has


def record_page(patient: Patient) -> RecordPage:
    return RecordPage(
        status_changes=_STATUS_CHANGES.objects(None, patient_id=patient.pk),
        consents=_CONSENTS.objects(None, patient_id=patient.pk, municipality_id=patient.municipality_id),
        loans=_LOANS_OUT.objects(None, patient_id=patient.pk),
    )


def loans_of(patient: Patient) -> QuerySet[DeviceLoan]:
    """Every loan of the patient (scope checked by the caller), newest first."""
    return patient.device_loans.select_related("device__centre", "lent_by", "returned_by")


def loans_out_for(patient: Patient) -> QuerySet[DeviceLoan]:
    """What the patient still has (avslutning lists it until everything is back)."""
    return loans_of(patient).filter(returned_on__isnull=True)


# While a person has two records (a move not yet answered, or declined), a reading that names them
# by fødselsnummer goes to the one being followed up: active or paused, then waiting for oppstart,
# then the newest. A record merged into another never receives anything.
_FOLLOWED_FIRST = Case(
    When(status__in=[PatientStatus.ACTIVE, PatientStatus.PAUSED], then=Value(0)),
    When(status=PatientStatus.PENDING, then=Value(1)),
    default=Value(2),
)


def records_by_national_id(patients: QuerySet[Patient], national_ids) -> dict[str, Patient]:
    """{fødselsnummer: the record to use} among `patients` (already scoped by the caller)."""
    rows = patients.filter(national_id__in=list(national_ids), merged_into=None).order_by(
        "national_id", _FOLLOWED_FIRST, "-created_at"
    )
    chosen: dict[str, Patient] = {}
    for patient in rows:
        chosen.setdefault(patient.national_id, patient)
    return chosen


def move_notices_for(user) -> list[MoveNotice]:
    """The open «mulig flytting» requests and unread «flytting godtatt» notices of the municipalities
    whose forløp this user handles (nurse, koordinator): the board's and the worklist's box. The
    caller audits the patients it shows."""
    notices = MoveNotice.objects.filter(
        municipality_id__in=referral_municipality_ids(user), state=MoveState.OPEN
    ).select_related("patient", "other_municipality")
    return list(notices.order_by("-requested_on", "-created_at")[:50])


def get_move_notice_for(user, *, patient: Patient, notice_id) -> MoveNotice:
    """An open notice about this (visible) patient, in a municipality the user handles; else 404."""
    try:
        notice_id = int(notice_id)
    except (TypeError, ValueError):
        raise Http404 from None
    notice = (
        MoveNotice.objects.filter(pk=notice_id, patient=patient, municipality_id__in=referral_municipality_ids(user))
        .select_related("patient", "other_municipality")
        .first()
    )
    if notice is None:
        raise Http404
    return notice


def start_kits(patient: Patient) -> list[Kit]:
    """The kits the oppstart form offers, one per name (the first centre's when two serving
    centres have a kit of the same name: oppstart finds a kit by its name, `kit_for`)."""
    kits: dict[str, Kit] = {}
    for kit in Kit.objects.filter(centre_id__in=serving_centres(patient.municipality_id)).order_by("name", "id"):
        kits.setdefault(kit.name, kit)
    return list(kits.values())


def loans_open_for_device(device: Device) -> DeviceLoan | None:
    """The device's open loan with its patient (the caller shows the name only within its scope)."""
    return DeviceLoan.objects.filter(device=device, returned_on__isnull=True).select_related("patient").first()
