"""Triage's part of the patient page. `patients/detail.html` is the patient's page in the patients
app, which sits below triage and imports nothing of it (CONTRIBUTING, "Layers"); the open alert,
trends, alert history and notes are served from here, into the page's `patient_sections` slot."""

from django import template

from patients.access import can_follow_up
from triage.forms import ContactForm
from triage.models import ContactKind
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
    with the patient's follow-up as `follow_up`, and for the patient's nurse the «Registrer kontakt»
    form (a contact at any time: a call in from the patient, an early routine call)."""
    request, patient = context["request"], context["patient"]
    follow_up = follow_up_of(patient, days=_days(request))
    may_contact = can_follow_up(request.user, patient)
    form = None
    if may_contact:
        form = ContactForm(initial={"kind": ContactKind.CALL_IN}, auto_id="contact_%s")
        # an evaluation has its own page (the forløp's «Registrer evaluering»), not this short form
        form.fields["kind"].choices = [c for c in form.fields["kind"].choices if c[0] != ContactKind.EVALUATION]
    with context.push(follow_up=follow_up, contact_form=form):
        return context.template.engine.get_template("triage/_patient_follow_up.html").render(context)
