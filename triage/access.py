"""Which of triage's pages a user may open, on the patient-level policy (patients.access): the views
ask it before they show anything, the main menu before it offers the link (`user|may_open:"worklist"`).
Who may take a step on a patient's alert or record a contact is patients.access.can_follow_up (the
patient's nurse), asked by triage.services."""

from __future__ import annotations

from patients.access import page
from tenants.models import Role
from tenants.selectors import user_scope


def can_open_worklist(user) -> bool:
    """The worklist and the follow-up lists: nurses, and koordinatorer within their municipality (the
    lists show the user's scope only); anyone else gets a 404."""
    scope = user_scope(user)
    return scope.has(Role.NURSE) or scope.has(Role.COORDINATOR)


def works_follow_up_lists(user) -> bool:
    """The menu offers «Planlagt oppfølging» to nurses, whose work the lists are (a contact is the
    patient's nurse's to record); a koordinator may open the page, but is not sent there."""
    return user_scope(user).has(Role.NURSE)


page("worklist", can_open_worklist)
page("follow_up", works_follow_up_lists)
