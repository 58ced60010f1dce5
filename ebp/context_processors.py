from ebp.access import can_open_approvals
from ebp.selectors import approvals_waiting


def approvals(request):
    """The fastlege's count of plans waiting, beside «Godkjenninger» in the menu (one COUNT, only for
    who may open the queue)."""
    user = getattr(request, "user", None)
    if user is None or not can_open_approvals(user):
        return {}
    return {"approvals_waiting": approvals_waiting(user)}
