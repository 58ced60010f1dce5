"""Triage's parts of the patients app's pages, registered into patients' extension points
(`patients/extensions.py`) in `TriageConfig.ready()`: patients sits below triage and imports nothing
of it (CONTRIBUTING, "Layers"). The patient page gets the open alert, trends, alert history and notes
(its `patient_sections` slot); the avslutning's confirmation lists the open alerts the end will close
(`triage/signals.py` closes them when the end is recorded)."""

from patients.access import can_follow_up
from triage.extensions import CONTACT, NOTE, note_marks
from triage.forms import ContactForm
from triage.models import Alert, AlertStatus, ContactKind
from triage.selectors import patient_follow_up as follow_up_of


def _days(request) -> int:
    try:
        return int(request.GET.get("days", 30))
    except ValueError:
        return 30  # the selector also falls back to 30 for a number it does not offer


def patient_follow_up(context) -> str:
    """Renders `triage/_patient_follow_up.html` in the page's own context (as `{% include %}` would),
    with the patient's follow-up as `follow_up`, and for the patient's nurse the «Registrer kontakt»
    form (a contact at any time: a call in from the patient, an early routine call)."""
    request, patient = context["request"], context["patient"]
    follow_up = follow_up_of(patient, days=_days(request))
    _mark(follow_up["notes"], follow_up["contacts"])
    may_contact = can_follow_up(request.user, patient)
    form = None
    if may_contact:
        form = ContactForm(initial={"kind": ContactKind.CALL_IN}, auto_id="contact_%s")
        # an evaluation has its own page (the forløp's «Registrer evaluering»), not this short form
        form.fields["kind"].choices = [c for c in form.fields["kind"].choices if c[0] != ContactKind.EVALUATION]
    with context.push(follow_up=follow_up, contact_form=form):
        return context.template.engine.get_template("triage/_patient_follow_up.html").render(context)


def _mark(notes: list, contacts: list) -> None:
    """What the apps above say about each note and contact (triage/extensions.py: journaling's state
    of the delivery to the EPJ), asked once for the whole page: `marks` on each row, and `copy` on a
    note, whether «Kopier til journal» is offered (not when the note goes to the journal by itself)."""
    marks = note_marks(notes, contacts)
    for note in notes:
        note.marks = marks.get((NOTE, note.pk), [])
        note.copy = not any(mark.sent for mark in note.marks)
    for contact in contacts:
        contact.marks = marks.get((CONTACT, contact.pk), [])


def alerts_the_end_closes(patient) -> dict:
    """The patient's open alerts (the page has the patient from the scope selector and audits its
    read), newest first, as `alerts` for `triage/_end_alerts.html`."""
    return {"alerts": list(Alert.objects.filter(patient=patient, status=AlertStatus.OPEN).order_by("-opened_at"))}
