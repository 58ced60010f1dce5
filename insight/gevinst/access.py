"""Who registers the gevinst and who sees its report (docs/insight.md, «Gevinst»). Pure predicates, as
patients/access.py's; named for the templates here (`{% may "register_gevinst" patient %}`,
`user|may_open:"gevinst"`), loaded by InsightConfig.ready.

- a patient's service use and survey answers: the forløp's people, a nurse or the koordinator of the
  patient's kommune (`can_register_gevinst`, patients.access.can_run_forlop);
- a kommune's comparison group and the CSV import from the EPJ: who handles the kommune's forløp
  (`patients.access.can_register_for`);
- the report: the roles that see every insight figure of a kommune (insight.access: the centre's
  nurses and leder for the centre's kommuner, the koordinator and a kommune's own nurse for theirs),
  not finance. Figures only: no patient-level row, and the leder reaches no patient at all.
"""

from __future__ import annotations

from django.http import Http404

from insight.access import ALL_SECTIONS, InsightView, insight_views
from patients.access import action, can_register_for, can_run_forlop, page, referral_municipality_ids
from patients.models import Patient
from tenants.errors import NotAllowed
from tenants.models import Role
from tenants.selectors import user_scope

REPORT_ROLES = (Role.LEDER, Role.NURSE, Role.COORDINATOR)
REGISTER_REFUSED = "Bare sykepleiere og koordinatorer for pasienten kan registrere tjenestebruk og brukerundersøkelser."
COMPARISON_REFUSED = "Bare sykepleiere og koordinatorer i kommunen kan registrere kommunens sammenligningsgruppe."


class GevinstRoleRequired(NotAllowed):
    """Not this user's registration to make (a 403)."""


def can_register_gevinst(user, patient: Patient) -> bool:
    """Service use and a survey answer of the patient: a nurse or the koordinator of its kommune."""
    return can_run_forlop(user, patient)


def can_keep_comparison(user, municipality_id: int) -> bool:
    """The kommune's comparison group, and importing its patients' service use from the EPJ."""
    return can_register_for(user, municipality_id)


def register_municipality_ids(user) -> list[int]:
    """The kommuner whose comparison group and EPJ import the user keeps."""
    return referral_municipality_ids(user)


def gevinst_views(user) -> list[InsightView]:
    """Each centre whose gevinst the user sees, with the kommuner they see every figure of (finance's
    capacity and alarm burden open no gevinst)."""
    views = []
    for view in insight_views(user):
        sections = {m: s for m, s in view.sections.items() if s >= ALL_SECTIONS}
        if sections:
            views.append(InsightView(view.centre, sections, view.whole_centre, view.roles - {Role.FINANCE}))
    return views


def gevinst_view_for(user, centre_slug: str = "") -> InsightView:
    """The user's view of one centre (the only or first one, or the one named); Http404 otherwise."""
    views = gevinst_views(user)
    if centre_slug:
        views = [v for v in views if v.centre.slug == centre_slug]
    if not views:
        raise Http404
    return views[0]


def can_open_gevinst(user) -> bool:
    """The menu's «Gevinst», from the request's scope (asked on every page): the report's roles. The
    page itself answers 404 when they see no kommune's figures."""
    scope = user_scope(user)
    return any(scope.has(role) for role in REPORT_ROLES)


def can_open_gevinst_registers(user) -> bool:
    """The comparison group's and the EPJ import's pages: who keeps some kommune's registrations."""
    return bool(register_municipality_ids(user))


action("register_gevinst", can_register_gevinst)
page("gevinst", can_open_gevinst)
page("gevinst_registers", can_open_gevinst_registers)
