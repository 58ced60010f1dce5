"""What the main menu (`base.html`) needs beyond the user's roles (tenants' `user_roles` context
processor): whether the user keeps a centre's device register, patients' rule
(patients.selectors.register_centres). tenants sits below patients and cannot tell; this library,
in the app that keeps the register, can, and the menu (the project's template) loads it."""

from django import template

from patients.selectors import register_centres
from tenants.models import Role
from tenants.selectors import user_scope

register = template.Library()


@register.filter
def keeps_register(user) -> bool:
    """Whether the user keeps a centre's device register (the «Utstyr» page opens for them; for a
    municipality's own nurse it would be a 404). No query for a user who is neither nurse nor admin;
    one per request for the others (the answer is kept on the user object, as the scope is)."""
    scope = user_scope(user)
    if not (scope.has(Role.NURSE) or scope.has(Role.ADMIN)) or not scope.centre_ids:
        return False
    cached = getattr(user, "_dho_keeps_register", None)
    if cached is None:
        cached = user._dho_keeps_register = register_centres(user).exists()
    return cached
