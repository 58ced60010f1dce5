"""Who may see what. The scope table of ARCHITECTURE.md, computed once per user and request."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q, QuerySet

from tenants.models import Agreement, AuditEvent, Centre, FollowUpBy, Membership, Municipality, Role

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

    @property
    def municipality_ids(self) -> list[int]:
        return sorted(self.municipality_roles)

    @property
    def uses_object_permissions(self) -> bool:
        return bool(self.roles & {Role.GP, Role.SPECIALIST})

    def has(self, role: str) -> bool:
        return role in self.roles


def _centre_nurse_municipalities(centre: Centre) -> set[int]:
    followed = Agreement.objects.active().filter(centre=centre, follow_up_by=FollowUpBy.CENTRE)
    return {*followed.values_list("municipality_id", flat=True), centre.host_id}


def _own_follow_up(municipality_id: int) -> bool:
    return (
        Agreement.objects.active()
        .filter(municipality_id=municipality_id, follow_up_by=FollowUpBy.MUNICIPALITY)
        .exists()
    )


def _reached_by(m: Membership) -> set[int]:
    """Municipalities whose patients one membership opens (gp/specialist go by object permission)."""
    if m.role == Role.NURSE and m.centre_id:
        return _centre_nurse_municipalities(m.centre)
    if m.role == Role.NURSE and m.municipality_id and _own_follow_up(m.municipality_id):
        return {m.municipality_id}
    if m.role == Role.COORDINATOR and m.municipality_id:
        return {m.municipality_id}
    return set()


def _compute_scope(user) -> Scope:
    memberships = list(Membership.objects.filter(user=user).select_related("centre"))
    granted: dict[int, set[str]] = {}
    for m in memberships:
        for municipality_id in _reached_by(m):
            granted.setdefault(municipality_id, set()).add(m.role)
    return Scope(
        roles=frozenset(m.role for m in memberships),
        municipality_roles={mid: next(r for r in ROLE_PRIORITY if r in roles) for mid, roles in granted.items()},
        centre_ids=frozenset(m.centre_id for m in memberships if m.centre_id),
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
    patients.selectors.role_used_for."""
    scope = user_scope(user)
    if municipality_id in scope.municipality_roles:
        return scope.municipality_roles[municipality_id]
    # The fastlege reaches the patient by object permission; the patient's gp field says it is theirs.
    if scope.has(Role.GP) and gp_id == user.pk:
        return Role.GP
    return Role.SPECIALIST if scope.has(Role.SPECIALIST) else ""


def admin_centres(user) -> QuerySet[Centre]:
    return Centre.objects.filter(memberships__user=user, memberships__role=Role.ADMIN)


def visible_municipalities(user) -> QuerySet[Municipality]:
    """Municipalities whose patients this user may list (filters, dropdowns)."""
    return Municipality.objects.filter(id__in=user_scope(user).municipality_ids)


def visible_audit_events(user) -> QuerySet[AuditEvent]:
    """A centre admin reads the log of the municipalities the centre serves (and its host)."""
    if user.is_superuser:
        return AuditEvent.objects.all()
    municipality_ids: set[int] = set()
    for centre in admin_centres(user).select_related("host"):
        municipality_ids |= _centre_nurse_municipalities(centre)
        municipality_ids |= set(
            Agreement.objects.active().filter(centre=centre).values_list("municipality_id", flat=True)
        )
    return AuditEvent.objects.filter(municipality_id__in=municipality_ids)


def centre_of(municipality_id: int) -> Centre | None:
    """The centre whose agreement covers this municipality (or which it hosts): its defaults apply."""
    agreement = Agreement.objects.active().filter(municipality_id=municipality_id).select_related("centre").first()
    if agreement:
        return agreement.centre
    return Centre.objects.filter(host_id=municipality_id).first()


def centre_served_municipalities(centre_id: int) -> set[int]:
    """Every municipality whose patients use the centre's platform: its host and all partners with an
    active agreement, whoever follows them up (Nordre Follo's devices post through the centre too)."""
    centre = Centre.objects.get(pk=centre_id)
    partners = Agreement.objects.active().filter(centre_id=centre_id).values_list("municipality_id", flat=True)
    return {*partners, centre.host_id}


def served_by_centre(centre: Centre, field: str = "municipality_id") -> Q:
    """The same set as centre_served_municipalities, as a filter on `field` for one query instead of
    three (the gateways' hot path)."""
    partner = Agreement.objects.active().filter(centre_id=centre.pk, municipality_id=OuterRef(field))
    return Q(**{field: centre.host_id}) | Q(Exists(partner))
