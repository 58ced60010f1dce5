"""The kinds of «no» a service gives, so every page and API endpoint answers them alike.

- `Refused`: the request is understood, but the domain says no as asked (a device already lent, a
  version not in a state to be approved, a month already locked). The API answers 400 with the
  message; a page shows it (as a form error or a message) and lets the user try again.
- `Stale`, a `Refused`: the step was asked against what the user saw, and that has changed since
  (an alert raised to red while its handle page was open). The API answers 409 with the message, so
  a client knows to read the object again; a page shows it and the object as it is now.
- `NotAllowed`: this user may not take this step at all (a koordinator drafting a plan, finance
  saving a price model). The API answers 403 with the message; a page shows Django's 403 page.
  It is Django's `PermissionDenied`, so code that knows only Django handles it the same way.
- Something outside the user's scope, or that does not exist, is Django's `Http404` (404), raised
  by the scope selectors before a service is reached: never one of these.

The message of both is Norwegian and safe to show the user. Every app's refusals subclass one of
the two (`EquipmentRefused(Refused)`, `EquipmentRoleRequired(NotAllowed)`, …); the API's exception
handler (`tenants.api_input.exception_handler`) maps them once, and pages use `RefusalMixin` below.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect


class Refused(Exception):
    """The domain says no to the step as asked (400; message in Norwegian, safe to show)."""

    field: str | None = None  # the body's field it is about, if one (`refused_field`)


class Stale(Refused):
    """The step was asked against a state of the object that has changed since the user saw it (409;
    message in Norwegian, safe to show: what changed, and to look again)."""


class NotAllowed(PermissionDenied):
    """This user may not take this step (403; message in Norwegian, safe to show)."""


@contextmanager
def refused_field(name: str) -> Iterator[None]:
    """A refusal raised inside is about one field of the request body (the fastlege named as «gp»):
    the API answers it as a serializer's error on that field, {name: [message]}, still a 400."""
    try:
        yield
    except Refused as exc:
        exc.field = name  # read by tenants.api_input.refusal
        raise


class RefusalMixin:
    """For a page view whose refusals all read the same: a `Refused` raised anywhere while the view
    runs is handed to `refused(exc)`, which by default shows the message (Django's messages) and
    answers `after_refusal()`, a redirect to the page itself unless the view says where. A page that
    shows a refusal otherwise (as a form error beside the fields, or a 403 page) catches it where it
    has the form, or overrides `refused`. `NotAllowed` is not caught: Django answers its 403 page."""

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        except Refused as exc:
            return self.refused(exc)

    def refused(self, exc: Refused) -> HttpResponse:
        messages.error(self.request, str(exc))
        return self.after_refusal()

    def after_refusal(self) -> HttpResponse:
        return redirect(self.request.get_full_path())
