"""Triage's part of the patient page. `patients/detail.html` is the patient's page in the patients
app, which sits below triage and imports nothing of it (CONTRIBUTING, "Layers"); the open alert,
trends, alert history and notes are served from here, into the page's `patient_sections` slot."""

from django import template

from triage.selectors import patient_follow_up as follow_up_of

register = template.Library()


def _days(request) -> int:
    try:
        return int(request.GET.get("days", 30))
    except ValueError:
        return 30  # the selector also falls back to 30 for a number it does not offer


@register.simple_tag(takes_context=True)
def patient_follow_up(context) -> str:
    """Renders `triage/_patient_follow_up.html` in the page's own context (as `{% include %}` would),
    with the patient's follow-up as `follow_up`."""
    follow_up = follow_up_of(context["patient"], days=_days(context["request"]))
    with context.push(follow_up=follow_up):
        return context.template.engine.get_template("triage/_patient_follow_up.html").render(context)
