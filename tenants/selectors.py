"""Who may see what. The scope table (docs/access-and-audit.md), computed once per user and request."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import CharField, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone

from tenants.compiled import NO_ID, NO_OTHER_ID, CompiledQuery
from tenants.models import (
    Agreement,
    AuditAction,
    AuditEvent,
    Centre,
    FollowUpBy,
    LoginMethod,
    Membership,
    Municipality,
    Population,
    Role,
    Staffing,
)
from tenants.norwegian import DATE, date_text
from tenants.people import display_name

# When a user holds several roles that reach the same patient, the audit log names the first.
ROLE_PRIORITY = (Role.NURSE, Role.COORDINATOR, Role.GP, Role.SPECIALIST)


@dataclass(frozen=True)
class Scope:
    """What one user's memberships open up. Patients beyond `municipality_roles` come only from
    object permissions (fastlege, shared specialist)."""

    roles: frozenset[str] = frozenset()
    # municipality id → the role through which this user sees that municipality's patients
    municipality_roles: dict[int, str] = field(default_factory=dict)
    centre_ids: frozenset[int] = frozenset()
    # (centre id, role) of each membership at a centre: which centres' registers the user keeps
    # (patients.access.register_centre_ids) without asking the memberships again
    centre_roles: frozenset[tuple[int, str]] = frozenset()

    @property
    def municipality_ids(self) -> list[int]:
        return sorted(self.municipality_roles)

    @property
    def uses_object_permissions(self) -> bool:
        return bool(self.roles & {Role.GP, Role.SPECIALIST})

    def has(self, role: str) -> bool:
        return role in self.roles


# Every request's scope reads the user's memberships and their centres' agreements: the same
# querysets each time, compiled once per process (and day: an agreement's period is compared with
# today) (tenants/compiled.py).
_CENTRE_FOLLOWS = CompiledQuery(
    # A set: no ordering (the default one joined the centres and kommuner to sort by name, every request)
    lambda day, centre_id: (
        Agreement.objects.active(on=day)
        .filter(centre_id=centre_id, follow_up_by=FollowUpBy.CENTRE)
        .order_by()
        .values_list("municipality_id")
    ),
    centre_id=NO_ID,
)


def _centre_nurse_municipalities(centre: Centre) -> set[int]:
    followed = _CENTRE_FOLLOWS.rows(timezone.localdate(), centre_id=centre.pk)
    return {*(municipality_id for (municipality_id,) in followed), centre.host_id}


def _reached_by(m: Membership) -> set[int]:
    """Municipalities whose patients one membership opens (gp/specialist go by object permission), from
    what `_with_reach` read with the membership."""
    if m.role == Role.NURSE and m.centre is not None:
        return {*m.centre_follows, m.centre.host_id}  # type: ignore[attr-defined]  # _with_reach's annotations
    if m.role == Role.NURSE and m.municipality_id and m.own_follow_up:  # type: ignore[attr-defined]
        return {m.municipality_id}
    if m.role == Role.COORDINATOR and m.municipality_id:
        return {m.municipality_id}
    return set()


def chosen_memberships(user) -> QuerySet[Membership]:
    """The user's memberships, or in a session that chose an organisation (tenants/organisations.py:
    the user carries the choice) those at it and the fastlege roles. What every reading of «which
    roles does this user act in» starts from (the scope below, insight's and billing's views, the
    centre admin's centres), so a page never reaches an organisation the session does not act for."""
    return _memberships_chosen(user.pk, getattr(user, "_dho_organisation", None))


def _memberships_chosen(user_id, chosen: tuple[str, int] | None) -> QuerySet[Membership]:
    memberships = Membership.objects.filter(user_id=user_id)
    if chosen is None:
        return memberships
    kind, pk = chosen
    at = Q(centre_id=pk) if kind == "centre" else Q(municipality_id=pk)
    return memberships.filter(at | Q(role=Role.GP))


def _with_reach(memberships: QuerySet[Membership], day: datetime.date) -> QuerySet[Membership]:
    """The memberships with their centres and, read by the same statement, what each opens on `day`:
    a centre's kommuner it follows up itself (`centre_follows`, for its nurses) and whether a kommune
    follows its own patients up (`own_follow_up`, for the kommune's nurses). Asked apart, these were a
    statement more on every request of a nurse."""
    in_force = Agreement.objects.active(on=day).order_by()
    follows = in_force.filter(centre_id=OuterRef("centre_id"), follow_up_by=FollowUpBy.CENTRE).values("municipality_id")
    own = in_force.filter(municipality_id=OuterRef("municipality_id"), follow_up_by=FollowUpBy.MUNICIPALITY)
    return memberships.select_related("centre").annotate(
        centre_follows=ArraySubquery(follows), own_follow_up=Exists(own)
    )


# Compiled once per process and day (an agreement's period is compared with the day).
_ALL_MEMBERSHIPS = CompiledQuery(
    lambda day, user_id: _with_reach(_memberships_chosen(user_id, None), day), user_id=NO_ID
)
_CHOSEN_MEMBERSHIPS = CompiledQuery(  # the key: the kind of organisation chosen, and the day
    lambda key, user_id, pk: _with_reach(_memberships_chosen(user_id, (key[0], pk)), key[1]),
    user_id=NO_ID,
    pk=NO_OTHER_ID,
)


_USER_BY_ID = CompiledQuery(lambda _key, pk: get_user_model().objects.filter(pk=pk), pk=NO_ID)


def user_by_id(user_id):
    """The user with this id, or None: a session's user, which the login backends look up on every
    request (`get_user`), through a query compiled once per process."""
    return _USER_BY_ID.first(None, pk=user_id)


def _scope_memberships(user) -> list[Membership]:
    """chosen_memberships with their centres, as the scope reads them on every request."""
    chosen, day = getattr(user, "_dho_organisation", None), timezone.localdate()
    if chosen is None:
        return _ALL_MEMBERSHIPS.objects(day, user_id=user.pk)
    kind, pk = chosen
    return _CHOSEN_MEMBERSHIPS.objects((kind, day), user_id=user.pk, pk=pk)


def _compute_scope(user) -> Scope:
    memberships = _scope_memberships(user)
    granted: dict[int, set[str]] = {}
    for m in memberships:
        for municipality_id in _reached_by(m):
            granted.setdefault(municipality_id, set()).add(m.role)
    return Scope(
        roles=frozenset(m.role for m in memberships),
        municipality_roles={mid: next(r for r in ROLE_PRIORITY if r in roles) for mid, roles in granted.items()},
        centre_ids=frozenset(m.centre_id for m in memberships if m.centre_id),
        centre_roles=frozenset((m.centre_id, m.role) for m in memberships if m.centre_id),
    )


def user_scope(user) -> Scope:
    """The user's scope, cached on the user object (one request, or one task)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Scope()
    cached = getattr(user, "_dho_scope", None)
    if cached is None:
        cached = _compute_scope(user)
        user._dho_scope = cached
    return cached


def role_for_patient(user, *, municipality_id: int, gp_id: int | None) -> str:
    """Which of the user's roles reaches a patient of this municipality with this fastlege: the audit
    log's «role used» and the nurse-only steps. Here and not in patients because roles, memberships
    and the scope live here and the audit log (tenants.services) needs it; patients calls it through
    patients.access.role_used_for."""
    scope = user_scope(user)
    if municipality_id in scope.municipality_roles:
        return scope.municipality_roles[municipality_id]
    # The fastlege reaches the patient by object permission; the patient's gp field says it is theirs.
    if scope.has(Role.GP) and gp_id == user.pk:
        return Role.GP
    return Role.SPECIALIST if scope.has(Role.SPECIALIST) else ""


def hpr_number_of(user) -> str:
    """The user's HPR number (Helsepersonellregisteret), "" when none is recorded. It is the same on
    each of their memberships, so any one that has it will do; the lowest, so a read gives one answer."""
    numbers = Membership.objects.filter(user=user).exclude(hpr_number="").order_by("hpr_number")
    return numbers.values_list("hpr_number", flat=True).first() or ""


def admin_centres(user) -> QuerySet[Centre]:
    """The centres the user is the admin of (in a session acting for one organisation, that one's)."""
    admin_of = chosen_memberships(user).filter(role=Role.ADMIN, centre__isnull=False).values("centre_id")
    return Centre.objects.filter(pk__in=admin_of)


def agreement_municipalities(centres: QuerySet[Centre]) -> QuerySet[Municipality]:
    """The kommuner a samarbeidsavtale of these centres may name: every kommune but another centre's
    host, which is that centre's throughout (tenants.services.agreement_refusal; a kommune under
    another centre's agreement is offered, since a period after that agreement may be agreed)."""
    others = Centre.objects.exclude(pk__in=centres.values("pk"))
    return Municipality.objects.exclude(pk__in=others.values("host_id"))


def visible_municipalities(user) -> QuerySet[Municipality]:
    """Municipalities whose patients this user may list (filters, dropdowns)."""
    return Municipality.objects.filter(id__in=user_scope(user).municipality_ids)


# The log's events of a person and no patient or kommune: their account (created, changed,
# deactivated), their password and second factor. The object id is the user's id.
PERSON_OBJECT_TYPES = ("user", "user_access", "password", "second_factor")


def centre_people(centre_ids) -> QuerySet:
    """Everyone with a role at these centres or in a kommune they serve, never a superuser: the
    accounts the centres' admins manage (tenants.login.accounts_managed_by) and whose log they read."""
    municipality_ids: set[int] = set()
    for centre_id in centre_ids:
        municipality_ids |= centre_served_municipalities(centre_id)
    members = Membership.objects.filter(Q(centre_id__in=centre_ids) | Q(municipality_id__in=municipality_ids))
    return get_user_model().objects.filter(pk__in=members.values("user_id"), is_superuser=False)


def visible_audit_events(user) -> QuerySet[AuditEvent]:
    """A centre admin reads the log of the municipalities the centre serves (and its host), and the
    events of no patient and no kommune that concern the centre's people (`centre_people`): what they
    did outside any one kommune (logging in, a list across kommuner, administering users and gateways)
    and what was done to their accounts (created, deactivated, a password or a second factor set)."""
    if user.is_superuser:
        return AuditEvent.objects.all()
    municipality_ids: set[int] = set()
    centres = list(admin_centres(user).select_related("host"))
    for centre in centres:
        municipality_ids |= _centre_nurse_municipalities(centre)
        municipality_ids |= set(
            Agreement.objects.active().filter(centre=centre).values_list("municipality_id", flat=True)
        )
    people = centre_people([centre.pk for centre in centres])
    person_ids = people.annotate(as_text=Cast("pk", CharField())).values("as_text")
    of_people = Q(user_id__in=people.values("pk")) | Q(object_type__in=PERSON_OBJECT_TYPES, object_id__in=person_ids)
    no_kommune = Q(municipality_id__isnull=True, patient_id__isnull=True)
    return AuditEvent.objects.filter(Q(municipality_id__in=municipality_ids) | (no_kommune & of_people))


def centre_of(municipality_id: int) -> Centre | None:
    """The centre whose agreement covers this municipality (or which it hosts): its defaults apply."""
    agreement = Agreement.objects.active().filter(municipality_id=municipality_id).select_related("centre").first()
    if agreement:
        return agreement.centre
    return Centre.objects.filter(host_id=municipality_id).first()


def centres_of(municipality_ids) -> dict[int, int]:
    """centre_of for many municipalities in two queries (scoring's batches): municipality id → the
    centre's id; a municipality no centre serves is left out. Each query keeps its model's ordering,
    so where two rows could answer, the one centre_of's `first()` picks comes first and wins."""
    ids = set(municipality_ids)
    found: dict[int, int] = {}
    for municipality_id, centre_id in (
        Agreement.objects.active().filter(municipality_id__in=ids).values_list("municipality_id", "centre_id")
    ):
        found.setdefault(municipality_id, centre_id)
    hosts = ids - set(found)
    if hosts:
        for host_id, centre_id in Centre.objects.filter(host_id__in=hosts).values_list("host_id", "id"):
            found.setdefault(host_id, centre_id)
    return found


def centre_served_municipalities(centre_id: int) -> set[int]:
    """Every municipality whose patients use the centre's platform: its host and all partners with an
    active agreement, whoever follows them up (Nordre Follo's devices post through the centre too)."""
    centre = Centre.objects.get(pk=centre_id)
    partners = Agreement.objects.active().filter(centre_id=centre_id).values_list("municipality_id", flat=True)
    return {*partners, centre.host_id}


def served_by_centre(centre: Centre, field: str = "municipality_id", on=None) -> Q:
    """The same set as centre_served_municipalities (on the day `on`, else today), as a filter on
    `field` for one query instead of three (the gateways' hot path)."""
    partner = Agreement.objects.active(on=on).filter(centre_id=centre.pk, municipality_id=OuterRef(field))
    return Q(**{field: centre.host_id}) | Q(Exists(partner))


# --- reference data: innbyggertall and staffing (written by tenants.reference) ------------------------


def populations_for(municipality_ids, year: int) -> dict[int, tuple[int, int | None]]:
    """Innbyggertall on 1 January of `year`, else the latest year before it, else the kommune's
    register figure (`Municipality.population`, no year: billing's explanation says so).
    kommune id → (inhabitants, year of the figure or None)."""
    out: dict[int, tuple[int, int | None]] = {
        m.pk: (m.population, None) for m in Municipality.objects.filter(pk__in=municipality_ids)
    }
    rows = Population.objects.filter(municipality_id__in=municipality_ids, year__lte=year).order_by(
        "municipality_id", "-year"
    )
    for row in rows.distinct("municipality_id"):
        out[row.municipality_id] = (row.inhabitants, row.year)
    return out


def populations_changed_since(municipality_ids, after: datetime.datetime) -> bool:
    """Whether a figure of these kommuner was set or corrected after `after` (billing recomputes a
    locked month when one was)."""
    return Population.objects.filter(municipality_id__in=municipality_ids, updated_at__gt=after).exists()


def staffing_on(centre: Centre, day: datetime.date) -> Staffing | None:
    """The centre's staffing period that covers `day`, if one does (periods never overlap)."""
    covering = Staffing.objects.filter(centre=centre, valid_from__lte=day)
    return covering.filter(Q(valid_to__isnull=True) | Q(valid_to__gte=day)).first()


def staffing_between(centre: Centre, start: datetime.date, end: datetime.date) -> list[Staffing]:
    """The centre's staffing periods that cover any day from `start` to `end` (both included),
    oldest first; days no period covers are gaps the caller shows as such."""
    periods = Staffing.objects.filter(centre=centre, valid_from__lte=end)
    return list(periods.filter(Q(valid_to__isnull=True) | Q(valid_to__gte=start)).order_by("valid_from"))


def reference_centres(user) -> QuerySet[Centre]:
    """The centres whose reference data the user keeps: those they are the admin of (every one for a
    superuser). Everyone else keeps none."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Centre.objects.none()
    return Centre.objects.all() if user.is_superuser else admin_centres(user).distinct()


def reference_municipalities(user) -> QuerySet[Municipality]:
    """The kommuner whose innbyggertall the user keeps: the hosts of their centres and every kommune
    those centres have (or had) a samarbeidsavtale with — an ended agreement's months can still be
    adjusted."""
    if getattr(user, "is_superuser", False) and user.is_active:
        return Municipality.objects.all()
    centres = reference_centres(user)
    partners = Agreement.objects.filter(centre__in=centres).values("municipality_id")
    return Municipality.objects.filter(Q(pk__in=partners) | Q(hosted_centres__in=centres)).distinct()


# --- innsyn i logg: who accessed one patient's record, for the patient (Normen) --------------------

ACCESS_LOG_DAYS = 30  # the period shown when none is chosen: the last 30 days up to today
ACCESS_LOG_DATE_FORMATS = ("%Y-%m-%d", DATE)
ACCESS_LOG_YEARS = (2000, 2999)

# What the log's object types are called in a letter to the patient; a type not named here is shown as
# it is stored (still truthful, if less friendly).
ACCESS_OBJECT_LABELS = {
    "access_log": "innsyn i logg",
    "alert": "varsel",
    "answer": "skjemasvar",
    "appeal": "klage",
    "assessment": "vurdering",
    "billing_basis": "faktureringsgrunnlag",
    "billing_export": "faktureringsgrunnlag",
    "billing_month": "faktureringsgrunnlag",
    "consent": "samtykke",
    "contact": "kontakt med pasienten",
    "decision": "vedtak",
    "device_list": "utstyrsliste",
    "device_loan": "utlån av utstyr",
    "device_loans": "utlån av utstyr",
    "evaluation": "evaluering",
    "follow_up": "oppfølging",
    "forlop_board": "forløpsoversikt",
    "patient": "pasientside",
    "patient_list": "pasientliste",
    "plan": "egenbehandlingsplan",
    "plan_version": "egenbehandlingsplan",
    "quarantined_item": "avvist måling",
    "reading": "måling",
    "reading_list": "måleliste",
    "referral": "henvisning",
    "referral_list": "henvisningsliste",
    "start": "oppstart",
    "status_change": "forløpet",
    "status_history": "forløpshistorikk",
    "worklist": "arbeidsliste",
}


# Who reads a patient's access log for them: the nurses and koordinatorer who follow the patient up.
# A fastlege or specialist who sees the patient gets a 403 (a 404 outside the scope, as everywhere).
ACCESS_LOG_ROLES = (Role.NURSE, Role.COORDINATOR)
ACCESS_LOG_REFUSED = "Bare sykepleiere og koordinatorer som følger opp pasienten, kan se loggen."


def may_read_access_log(user, *, municipality_id: int, gp_id: int | None) -> bool:
    return role_for_patient(user, municipality_id=municipality_id, gp_id=gp_id) in ACCESS_LOG_ROLES


class AccessLogPeriodError(ValueError):
    """A period that cannot be read: `errors` maps the parameter ("from", "to") to what was wrong."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class AccessLogPeriod:
    start: datetime.date
    end: datetime.date  # inclusive

    def bounds(self) -> tuple[datetime.datetime, datetime.datetime]:
        """[start of the first day, start of the day after the last) in Norway's time."""
        first = timezone.make_aware(datetime.datetime.combine(self.start, datetime.time.min))
        after = timezone.make_aware(datetime.datetime.combine(self.end + datetime.timedelta(days=1), datetime.time.min))
        return first, after


def _period_date(raw: str, label: str) -> datetime.date:
    for fmt in ACCESS_LOG_DATE_FORMATS:
        try:
            day = datetime.datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
        # Year 1 or 9999 would overflow the 30 days' arithmetic and the time zone: no log is that old.
        first, last = ACCESS_LOG_YEARS
        if not first <= day.year <= last:
            raise ValueError(f"{label} {date_text(day)} må være mellom år {first} og {last}.")
        return day
    raise ValueError(f"{label} «{raw[:40]}» er ikke en dato; skriv den som dd.mm.åååå eller åååå-mm-dd.")


def access_log_period(raw_from: str = "", raw_to: str = "", *, today: datetime.date | None = None) -> AccessLogPeriod:
    """The period asked for (`from`, `to`; either may be left out): to defaults to today, from to
    30 days before to. Raises AccessLogPeriodError saying which date was wrong and how."""
    today = today or timezone.localdate()
    errors: dict[str, str] = {}
    dates: dict[str, datetime.date | None] = {}
    for key, raw, label in (("from", raw_from, "Fra-datoen"), ("to", raw_to, "Til-datoen")):
        raw = (raw or "").strip()
        try:
            dates[key] = _period_date(raw, label) if raw else None
        except ValueError as exc:
            errors[key] = str(exc)
    if errors:
        raise AccessLogPeriodError(errors)
    end = dates["to"] or today
    start = dates["from"] or end - datetime.timedelta(days=ACCESS_LOG_DAYS)
    if start > end:
        raise AccessLogPeriodError({"from": f"Fra-datoen ({date_text(start)}) er etter til-datoen ({date_text(end)})."})
    return AccessLogPeriod(start, end)


def access_log(patient_id, period: AccessLogPeriod) -> QuerySet[AuditEvent]:
    """Every access a person made to one patient's record in the period, newest first. Gateways and
    background jobs (events without a user) are left out: they are the device's data arriving and the
    system's own checks, not someone reading the record. The caller has checked the patient's scope."""
    first, after = period.bounds()
    events = AuditEvent.objects.filter(patient_id=patient_id, at__gte=first, at__lt=after, user_id__isnull=False)
    return events.select_related("user").order_by("-at", "-pk")


@dataclass(frozen=True)
class AccessRow:
    """One line of the patient's access log, in the words a letter to the patient uses."""

    at: datetime.datetime
    name: str
    username: str
    role: str
    role_label: str
    organisation: str  # the centre or kommune of the membership that gives the role
    action: str
    action_label: str
    object_type: str
    what: str
    login_method: str = ""  # tenants.models.LoginMethod: HelseID, password and code, an API token
    login_method_label: str = ""


def _organisations(events: list[AuditEvent]) -> dict[tuple[int | None, str], str]:
    """(user id, role) → the centres and kommuner where the user holds that role, in one query. Today's
    memberships: a membership ended since is no longer named."""
    found: dict[tuple[int | None, str], list[str]] = {}
    memberships = Membership.objects.filter(user_id__in={e.user_id for e in events}).select_related(
        "centre", "municipality"
    )
    for m in memberships:
        if m.centre is not None:
            where = m.centre.name
        else:
            assert m.municipality is not None  # a membership is at a centre or a kommune (its check constraint)
            where = f"{m.municipality.name} kommune"
        found.setdefault((m.user_id, m.role), []).append(where)
    return {key: ", ".join(sorted(names)) for key, names in found.items()}


def login_method_label(code: str) -> str:
    """The login method in Norwegian ("" for events of no login)."""
    return str(dict(LoginMethod.choices).get(code, code)) if code else ""


def _person(event: AuditEvent) -> str:
    user = event.user
    return display_name(user) if user is not None else event.username


def _row(event: AuditEvent, organisations: dict[tuple[int | None, str], str]) -> AccessRow:
    return AccessRow(
        at=event.at,
        name=_person(event),
        username=event.username,
        role=event.role,
        role_label=str(dict(Role.choices).get(event.role, event.role)),
        organisation=organisations.get((event.user_id, event.role), ""),
        action=event.action,
        action_label=str(dict(AuditAction.choices).get(event.action, event.action)),
        object_type=event.object_type,
        what=ACCESS_OBJECT_LABELS.get(event.object_type, event.object_type),
        login_method=event.login_method,
        login_method_label=login_method_label(event.login_method),
    )


def access_rows(events) -> list[AccessRow]:
    """The events (from access_log, one page of them) as lines to show: two queries whatever their number."""
    events = list(events)
    organisations = _organisations(events)
    return [_row(e, organisations) for e in events]
