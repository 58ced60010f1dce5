"""Who sees which insight figures (docs/insight.md, «Who sees what»).

- a centre's nurses and its leder: every figure of the kommuner the centre follows up (its host and
  the partners whose agreement says the centre follows up), and the centre's own figures (staffing,
  patients per årsverk);
- a koordinator: every figure of their kommune, in the centres that follow it up;
- a kommune's own nurse (a kommune that follows up its own patients): their kommune's figures;
- finance: capacity and alarm burden, of the centre (the centre's finance) or of their kommune;
- anyone else: nothing (the API answers 404, as for anything outside a scope).

The menu's «Innsikt» and the leder's landing ask `can_open_insight` (named «insight» for the templates:
`user|may_open:"insight"`). Figures only: no role reaches a patient through them. A leder has no patient scope at all
(tenants.selectors gives the role no municipality), so every patient page and list is a 404 for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q
from django.http import Http404

from patients.access import page
from tenants.models import Agreement, Centre, FollowUpBy, Municipality, Role
from tenants.selectors import chosen_memberships, user_scope

ALL_SECTIONS = frozenset({"capacity", "alarm_burden", "adherence", "funnel"})
FINANCE_SECTIONS = frozenset({"capacity", "alarm_burden"})
CENTRE_ROLES: dict[str, frozenset[str]] = {
    Role.LEDER: ALL_SECTIONS,
    Role.NURSE: ALL_SECTIONS,
    Role.FINANCE: FINANCE_SECTIONS,
}
MUNICIPALITY_ROLES: dict[str, frozenset[str]] = {
    Role.COORDINATOR: ALL_SECTIONS,
    Role.NURSE: ALL_SECTIONS,
    Role.FINANCE: FINANCE_SECTIONS,
}
# The audit log's role of an insight read: the first the user holds of these.
ROLE_ORDER = (Role.LEDER, Role.NURSE, Role.COORDINATOR, Role.FINANCE)


@dataclass
class InsightView:
    """One centre's figures as one user may see them: which kommuner, which sections of each, and
    whether the centre's own figures (the whole centre: staffing, its totals) are theirs to see."""

    centre: Centre
    sections: dict[int, frozenset[str]] = field(default_factory=dict)  # kommune id → sections
    whole_centre: bool = False
    roles: set[str] = field(default_factory=set)

    @property
    def municipality_ids(self) -> frozenset[int]:
        return frozenset(self.sections)

    @property
    def role(self) -> str:
        return next((r for r in ROLE_ORDER if r in self.roles), "")

    def add(self, municipality_ids, sections: frozenset[str], role: str) -> None:
        for municipality_id in municipality_ids:
            self.sections[municipality_id] = self.sections.get(municipality_id, frozenset()) | sections
        self.roles.add(role)


def followed_municipality_ids(centre: Centre) -> frozenset[int]:
    """The kommuner the centre follows up today: its host and the partners whose agreement says the
    centre follows up (a partner that follows its own patients runs its own service)."""
    partners = Agreement.objects.active().filter(centre=centre, follow_up_by=FollowUpBy.CENTRE)
    return frozenset({*partners.values_list("municipality_id", flat=True), centre.host_id})


def _centres_serving(municipality_id: int, *, own_follow_up: bool) -> list[Centre]:
    """The centres whose platform serves the kommune (its host, a partner with an active agreement);
    `own_follow_up`: only those whose agreement says the kommune follows up its own patients."""
    agreed = Agreement.objects.active().filter(municipality_id=municipality_id)
    if own_follow_up:
        agreed = agreed.filter(follow_up_by=FollowUpBy.MUNICIPALITY)
    hosted = Q(pk__in=[]) if own_follow_up else Q(host_id=municipality_id)
    return list(Centre.objects.filter(Q(pk__in=agreed.values("centre_id")) | hosted).distinct())


def insight_views(user) -> list[InsightView]:
    """Every centre whose figures the user sees something of, by name; empty for everyone else. A
    session acting for one organisation («Velg virksomhet») sees that one's figures only."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    views: dict[int, InsightView] = {}

    def view_of(centre: Centre) -> InsightView:
        return views.setdefault(centre.pk, InsightView(centre))

    for m in chosen_memberships(user).select_related("centre"):
        if m.centre is not None and m.role in CENTRE_ROLES:
            view = view_of(m.centre)
            view.add(followed_municipality_ids(m.centre), CENTRE_ROLES[m.role], m.role)
            view.whole_centre = True
        elif m.municipality_id is not None and m.role in MUNICIPALITY_ROLES:
            # A kommune's own nurse: only where the kommune follows up its own patients.
            for centre in _centres_serving(m.municipality_id, own_follow_up=m.role == Role.NURSE):
                view_of(centre).add([m.municipality_id], MUNICIPALITY_ROLES[m.role], m.role)
    return sorted(views.values(), key=lambda v: v.centre.name)


def insight_view_for(user, centre_slug: str = "") -> InsightView:
    """The user's view of one centre (the only or first one, or the one named); Http404 otherwise."""
    views = insight_views(user)
    if centre_slug:
        views = [v for v in views if v.centre.slug == centre_slug]
    if not views:
        raise Http404
    return views[0]


@dataclass(frozen=True)
class Selection:
    """What one answer shows: one kommune of the view, or all of them together."""

    municipality: Municipality | None
    municipality_ids: frozenset[int]
    sections: frozenset[str]


def selection_for(view: InsightView, municipality_number: str = "") -> Selection:
    """One kommune by kommunenummer (Http404 outside the view, as for an unknown one), else the
    view's every kommune; the sections are those the user sees of every kommune shown."""
    if municipality_number:
        municipality = Municipality.objects.filter(pk__in=view.municipality_ids, number=municipality_number).first()
        if municipality is None:
            raise Http404
        return Selection(municipality, frozenset({municipality.pk}), view.sections[municipality.pk])
    sections = frozenset.intersection(*view.sections.values()) if view.sections else frozenset()
    return Selection(None, view.municipality_ids, sections)


INSIGHT_ROLES = frozenset(ROLE_ORDER)


def can_open_insight(user) -> bool:
    """The menu's «Innsikt», from the request's scope (asked on every page, no query of its own): the
    roles that see some figure. The page itself answers 404 when they see no centre's figures."""
    return bool(user_scope(user).roles & INSIGHT_ROLES)


page("insight", can_open_insight)
