"""Which of journaling's pages the main menu offers (`user|may_open:"journaling"`,
patients.access.page): the centre admin's «Journalføring», where the kommuner's routes to their EPJ
and the deliveries that need a person are kept. The page itself shows only the kommuner the admin
looks after (journaling.selectors.manageable_municipalities: a 404 for anyone else), and the
services refuse anyone else (journaling.services.JournalingAdminRequired)."""

from __future__ import annotations

from patients.access import page
from tenants.models import Role
from tenants.selectors import user_scope


def can_open_journaling(user) -> bool:
    """Journalføring: a centre's admin (every kommune the centre serves), and a superuser. Asked on
    every page for the menu, so from the request's scope and not from the agreements."""
    if not getattr(user, "is_authenticated", False):
        return False
    return user.is_superuser or user_scope(user).has(Role.ADMIN)


page("journaling", can_open_journaling)
