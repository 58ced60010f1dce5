"""{% session_warning %}: the dialog that warns before the session ends (base.html, logged in)."""

import time

from django import template

from tenants import sessions, two_factor

register = template.Library()


@register.inclusion_tag("tenants/_session_warning.html", takes_context=True)
def session_warning(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"show": False}
    if two_factor.required() and not two_factor.session_is_verified(request):
        return {"show": False}  # the second-factor pages: nothing to keep alive yet
    found = sessions.limits(request.session)
    if found is None:
        return {"show": False}
    return {
        "show": True,
        "request": request,
        "csrf_token": context.get("csrf_token"),
        # Whole milliseconds as text: a float would be localised ("1732,5") in a data attribute.
        "server_now": str(int(time.time() * 1000)),
        "idle_deadline": str(int(found.idle_deadline * 1000)),
        "absolute_deadline": str(int(found.absolute_deadline * 1000)),
        "warning_seconds": str(sessions.warning_seconds()),
        "max_hours": sessions.max_seconds() // 3600,
    }
