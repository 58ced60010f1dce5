"""Which of billing's pages the main menu offers (`user|may_open:"billing"`, patients.access.page):
each is a page open to one role, which then shows the centre or kommune the user holds it for (and
answers 404 to anyone else: billing.views)."""

from __future__ import annotations

from patients.access import page
from tenants.models import Role
from tenants.selectors import user_scope


def can_open_billing(user) -> bool:
    """Økonomi: the finance role, at a centre or a kommune."""
    return user_scope(user).has(Role.FINANCE)


def can_open_price_model(user) -> bool:
    """Prismodell: the centre's admin (who changes it; finance reads it from Økonomi)."""
    return user_scope(user).has(Role.ADMIN)


def can_open_basis(user) -> bool:
    """Fakturagrunnlag: a koordinator, for their own kommune."""
    return user_scope(user).has(Role.COORDINATOR)


page("billing", can_open_billing)
page("price_model", can_open_price_model)
page("basis", can_open_basis)
