"""Who may do what with a patient's egenbehandlingsplan, on the patient-level policy (patients.access):
the services refuse by it, the pages and the API show and accept by it, the templates offer by it
(`{% may "edit_plan" patient as … %}`).

- drafting, editing and submitting a version (and opening a draft when an evaluation adjusts the
  plan): the patient's nurse (`patients.access.can_follow_up`), not the koordinator;
- approving or returning a submitted version: the patient's own fastlege (`patients.access.is_own_gp`);
  their queue of versions waiting (the «Godkjenninger» page) is a fastlege's.
"""

from __future__ import annotations

from patients.access import NurseRequired, action, can_follow_up, is_own_gp, page, require
from patients.models import Patient
from tenants.errors import NotAllowed
from tenants.models import Role
from tenants.selectors import user_scope

PLAN_NURSE_REQUIRED = "Bare sykepleiere som følger opp pasienten kan endre egenbehandlingsplanen."
OWN_GP_REQUIRED = "Bare pasientens egen fastlege kan godkjenne eller returnere planen."


class OwnGpRequired(NotAllowed):
    """Only the patient's own fastlege approves or returns the plan (a 403 wherever it is raised)."""


def can_edit_plan(user, patient: Patient) -> bool:
    """Draft, edit and submit the patient's plan: the patient's nurse."""
    return can_follow_up(user, patient)


def can_approve_plan(user, patient: Patient) -> bool:
    """Approve or return a submitted version: the patient's own fastlege."""
    return is_own_gp(user, patient)


def can_open_approvals(user) -> bool:
    """The queue of versions waiting for the fastlege: a fastlege's page."""
    return user_scope(user).has(Role.GP)


def plan_nurse_require(user, patient: Patient) -> None:
    """NurseRequired unless the user may edit the plan (the services, and the draft page before it
    shows the form)."""
    require(can_edit_plan, user, patient, NurseRequired(PLAN_NURSE_REQUIRED))


def own_gp_require(user, patient: Patient) -> None:
    require(can_approve_plan, user, patient, OwnGpRequired(OWN_GP_REQUIRED))


action("edit_plan", can_edit_plan)
action("approve_plan", can_approve_plan)
page("approvals", can_open_approvals)
