"""{% unknown_helseid_logins as n %}: the admin's front page tells the centre admin about HelseID
logins from persons nobody bound to a user in the last 30 days (tenants/admin_helseid.py)."""

import datetime

from django import template
from django.utils import timezone

from tenants.models import LoginRefusalReason

register = template.Library()
DAYS = 30


@register.simple_tag(takes_context=True)
def unknown_helseid_logins(context) -> int:
    from tenants.admin_helseid import visible_refusals

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff:
        return 0
    since = timezone.now() - datetime.timedelta(days=DAYS)
    return visible_refusals(user).filter(reason=LoginRefusalReason.UNKNOWN, at__gte=since).count()
