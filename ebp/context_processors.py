from ebp.selectors import approvals_waiting
from tenants.models import Role
from tenants.selectors import user_scope


def approvals(request):
    """The fastlege's count of plans waiting, beside «Godkjenninger» in the menu (one COUNT, only for
    a fastlege)."""
    user = getattr(request, "user", None)
    if user is None or not user_scope(user).has(Role.GP):
        return {}
    return {"approvals_waiting": approvals_waiting(user)}
