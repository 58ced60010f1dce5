from tenants.selectors import user_scope


def roles(request):
    """The user's roles, for the navigation (what to show, never what to allow)."""
    user = getattr(request, "user", None)
    return {"user_roles": user_scope(user).roles if user is not None else frozenset()}
