"""Who may do what with a patient, a forløp, a henvisning and a centre's equipment: the one policy that
the write services, the selectors, the views (before they show a form) and the templates (before they
offer a step, `{% load access %}`) all ask. Pure predicates: they read the user's scope
(tenants.selectors.user_scope, computed once per request) and the patient's municipality and fastlege,
and write nothing, audit nothing, raise nothing.

Outside the scope is never a question for this module: the scope selectors answer 404 before
(patients.selectors.get_patient_for). These predicates tell, for someone who sees the patient, which of
the patient's steps are theirs; a step that is not is a 403 (`tenants.errors.NotAllowed`).

The rules:
- the patient's nurse (`can_follow_up`): the role that opens the patient is nurse (a centre's nurse for
  the municipalities it follows up, a municipality's own nurse where it follows up its own). Takes and
  handles alerts, records contacts; drafts the plan (ebp.access).
- the forløp (`can_run_forlop`): nurse or koordinator for the patient's municipality. Status changes
  (oppstart, pause, gjenopptak, avslutning, evaluering), samtykke, the fastlege, phone and pårørende,
  lending devices, answering a move, reading the patient's access log.
- henvisninger (`referral_municipality_ids`, `can_register_for`): the municipalities where the user is
  nurse or koordinator; a henvisning has no patient yet.
- the device register (`register_centre_ids`, `keeps_register`): the centre's nurses and admins. A
  device comes back to its centre, or to the borrower's nurse or koordinator (`can_take_back`).
- the patient's own fastlege (`is_own_gp`): approves the plan (ebp.access).

A page or a step in an app above patients that needs a rule of its own adds it in its own access module
(ebp/access.py) on these, and names it for the templates with `action` or `page` below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from patients.models import Patient
from tenants.errors import NotAllowed
from tenants.models import Role
from tenants.selectors import may_read_access_log, role_for_patient, user_scope

GP_PERMISSION = "follow_as_gp"  # the object permission the patient's fastlege holds (patients.services.record)
SHARE_PERMISSION = "view_patient"  # a specialist's, on a patient shared with them
FORLOP_ROLES = (Role.NURSE, Role.COORDINATOR)  # for the patient's municipality: the forløp and henvisninger
REGISTER_ROLES = (Role.NURSE, Role.ADMIN)  # at the centre: its device register

NURSE_REQUIRED = "Bare sykepleiere som følger opp pasienten kan gjøre dette."


class NurseRequired(NotAllowed):
    """Only a nurse who follows the patient up may take this step (a 403 wherever it is raised). The
    message names the step when the caller gives one."""

    def __init__(self, message: str = NURSE_REQUIRED):
        super().__init__(message)


def require(predicate: Callable[[Any, Any], bool], user, obj, refusal: NotAllowed) -> None:
    """Raise `refusal` (a NotAllowed: 403) unless `predicate(user, obj)`: how a service or a view
    turns a rule of this module into its no."""
    if not predicate(user, obj):
        raise refusal


# --- the patient --------------------------------------------------------------------------------------


def role_used_for(user, patient: Patient) -> str:
    """Which of the user's roles opens this patient (also the audit log's «role used»)."""
    return role_for_patient(user, municipality_id=patient.municipality_id, gp_id=patient.gp_id)


def can_follow_up(user, patient: Patient) -> bool:
    """The patient's nurse: takes and handles the patient's alerts and records contacts."""
    return role_used_for(user, patient) == Role.NURSE


def can_run_forlop(user, patient: Patient) -> bool:
    """A nurse or the koordinator of the patient's municipality."""
    return role_used_for(user, patient) in FORLOP_ROLES


def is_own_gp(user, patient: Patient) -> bool:
    """The patient's own fastlege (who has a fastlege role; the patient's gp field names them)."""
    return patient.gp_id is not None and patient.gp_id == user.pk and user_scope(user).has(Role.GP)


def can_change_status(user, patient: Patient) -> bool:
    """Oppstart, pause, gjenopptak, avslutning and evaluering: the forløp's people."""
    return can_run_forlop(user, patient)


def can_record_consent(user, patient: Patient) -> bool:
    """The samtykke: those who handle the municipality's henvisninger."""
    return can_register_for(user, patient.municipality_id)


def can_set_fastlege(user, patient: Patient) -> bool:
    """Set or change the fastlege: the patient's nurses and koordinator."""
    return can_run_forlop(user, patient)


def can_edit_contact_info(user, patient: Patient) -> bool:
    """Phone and pårørende: the same people who set the fastlege."""
    return can_set_fastlege(user, patient)


def can_answer_move(user, patient: Patient) -> bool:
    """Accept or decline another kommune's «mulig flytting», acknowledge «flytting godtatt»."""
    return can_change_status(user, patient)


def can_lend_to(user, patient: Patient) -> bool:
    """Lend devices to the patient (oppstart, the API): the patient's nurses and koordinator."""
    return can_run_forlop(user, patient)


def can_see_access_log(user, patient: Patient) -> bool:
    """Innsyn i logg, for the patient: the nurses and koordinatorer who follow the patient up (the
    rule is tenants.selectors.may_read_access_log's, which the access log's pages ask)."""
    return may_read_access_log(user, municipality_id=patient.municipality_id, gp_id=patient.gp_id)


# --- henvisninger: a municipality's, before there is a patient ------------------------------------


def referral_municipality_ids(user) -> list[int]:
    """The municipalities whose henvisninger and forløp this user handles (nurse or koordinator there)."""
    roles = user_scope(user).municipality_roles
    return sorted(mid for mid, role in roles.items() if role in FORLOP_ROLES)


def can_register_for(user, municipality_id: int) -> bool:
    """Register and handle henvisninger of this municipality (vurdering, vedtak, klage, samtykke)."""
    return municipality_id in referral_municipality_ids(user)


# --- the centre's device register -----------------------------------------------------------------


def register_centre_ids(user) -> set[int]:
    """The centres whose register this user keeps (nurse or admin there, at the organisation the
    session acts for if it chose one): read from the memberships the scope was made of
    (tenants.selectors.user_scope, once per request), no query of its own."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    return {centre_id for centre_id, role in user_scope(user).centre_roles if role in REGISTER_ROLES}


def keeps_register(user, centre_id: int) -> bool:
    """Register, import, clean and discard the centre's devices, make its kits."""
    return centre_id in register_centre_ids(user)


def keeps_a_register(user) -> bool:
    """Whether the user keeps any centre's register (the «Utstyr» page opens for them)."""
    return bool(register_centre_ids(user))


def can_take_back(user, *, centre_id: int, borrower: Patient) -> bool:
    """«Ta imot»: the device's centre, or the borrower's nurse or koordinator (who collects it at
    avslutning)."""
    return keeps_register(user, centre_id) or can_lend_to(user, borrower)


# --- pages: the lists a user may open (the main menu) ----------------------------------------------


def can_list_patients(user) -> bool:
    """The patient list, for those who follow patients up or see them as fastlege or specialist."""
    scope = user_scope(user)
    return any(scope.has(role) for role in (Role.NURSE, Role.COORDINATOR, Role.GP, Role.SPECIALIST))


def can_open_board(user) -> bool:
    """The forløp board: for who handles some municipality's henvisninger (else it is a 404)."""
    return bool(referral_municipality_ids(user))


# --- the names templates ask by (`{% may "start" patient as may_start %}`, `user|may_open:"board"`) ----

PatientPredicate = Callable[[Any, Patient], bool]
UserPredicate = Callable[[Any], bool]

ACTIONS: dict[str, PatientPredicate] = {}
PAGES: dict[str, UserPredicate] = {}


def action(name: str, predicate: PatientPredicate) -> None:
    """Name a patient-level predicate for the templates. Upper apps name theirs in their own access
    module (ebp/access.py), loaded by their AppConfig.ready; a name is given once."""
    if ACTIONS.get(name, predicate) is not predicate:
        raise ValueError(f"the action «{name}» is already named")
    ACTIONS[name] = predicate


def page(name: str, predicate: UserPredicate) -> None:
    """Name a page-level predicate (may this user open that page?) for the menu, as `action` does."""
    if PAGES.get(name, predicate) is not predicate:
        raise ValueError(f"the page «{name}» is already named")
    PAGES[name] = predicate


class UnknownName(LookupError):
    """A step or page no access module named: a mistake in the caller (a template's, a view's),
    never a quiet «no». The template tags (patients/templatetags/access.py) raise it as a
    TemplateSyntaxError, so the page fails instead of hiding the step."""


def _named(table: dict[str, Any], name: str, what: str) -> Any:
    try:
        return table[name]
    except KeyError:
        raise UnknownName(f"«{name}» is no {what} of patients.access") from None


def may(user, name: str, patient: Patient) -> bool:
    """What the named step's predicate (ACTIONS) says for this user and patient."""
    return _named(ACTIONS, name, "step (ACTIONS)")(user, patient)


def may_open(user, name: str) -> bool:
    """What the named page's predicate (PAGES) says: may this user open that page?"""
    return _named(PAGES, name, "page (PAGES)")(user)


for _name, _predicate in {
    "follow_up": can_follow_up,
    "consent": can_record_consent,
    "start": can_change_status,
    "pause": can_change_status,
    "resume": can_change_status,
    "end": can_change_status,
    "evaluation": can_change_status,
    "set_fastlege": can_set_fastlege,
    "edit_contact_info": can_edit_contact_info,
    "answer_move": can_answer_move,
    "see_access_log": can_see_access_log,
}.items():
    action(_name, _predicate)
for _name, _page in {"patients": can_list_patients, "board": can_open_board, "equipment": keeps_a_register}.items():
    page(_name, _page)
