"""Triage's parts of the patients app's pages, registered into patients' extension points
(`patients/extensions.py`) in `TriageConfig.ready()`: patients sits below triage and imports nothing
of it (CONTRIBUTING, "Layers"). The patient page gets the open alert, trends, alert history and notes
(its `patient_sections` slot); the avslutning's confirmation lists the open alerts the end will close
(`triage/signals.py` closes them when the end is recorded)."""

import datetime
from html import escape
from urllib.parse import urlencode

from django.template import Context
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from patients.access import can_follow_up
from tenants.norwegian import DATETIME, datetime_text
from triage.extensions import CONTACT, NOTE, note_marks
from triage.forms import ContactForm
from triage.models import Alert, AlertStatus, ContactKind
from triage.selectors import patient_follow_up as follow_up_of
from triage.templatetags.triage_tags import colour_word


def chart_days(request) -> int:
    try:
        return int(request.GET.get("days", 30))
    except ValueError:
        return 30  # the selector also falls back to 30 for a number it does not offer


def patient_follow_up(context) -> str:
    """Renders `triage/_patient_follow_up.html` in the page's own context (as `{% include %}` would),
    with the patient's follow-up as `follow_up`, and for the patient's nurse the «Registrer kontakt»
    form (a contact at any time: a call in from the patient, an early routine call)."""
    request, patient = context["request"], context["patient"]
    days, now = chart_days(request), timezone.now()
    follow_up = follow_up_of(patient, days=days, now=now, numbers_url=numbers_url_of(patient, days, now))
    _mark(follow_up["notes"], follow_up["contacts"])
    may_contact = can_follow_up(request.user, patient)
    form = fields = None
    if may_contact:
        form = _contact_form()
        fields = _contact_fields(context.template.engine)
    history = alert_history_rows(follow_up["alerts"])
    with context.push(follow_up=follow_up, contact_form=form, contact_fields=fields, alert_history=history):
        return context.template.engine.get_template("triage/_patient_follow_up.html").render(context)


def numbers_url_of(patient, days: int, now: datetime.datetime):
    """type → the address of its chart's numbers (triage.views.TrendNumbersView): the page's period,
    its end as microseconds since the epoch, so that the table holds what the chart drew."""
    query = urlencode({"days": days, "til": til_of(now)})
    return lambda mtype: f"{reverse('triage:trend-numbers', args=[patient.pk, mtype])}?{query}"


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def til_of(at: datetime.datetime) -> int:
    return (at - EPOCH) // datetime.timedelta(microseconds=1)  # exact: no float between


def at_of_til(raw: str) -> datetime.datetime | None:
    """The `til` of a numbers address as the time it names; None for one that is no such number."""
    try:
        return EPOCH + datetime.timedelta(microseconds=int(raw))
    except (ValueError, OverflowError):
        return None


def _contact_form() -> ContactForm:
    form = ContactForm(initial={"kind": ContactKind.CALL_IN}, auto_id="contact_%s")
    # an evaluation has its own page (the forløp's «Registrer evaluering»), not this short form
    form.fields["kind"].choices = [c for c in form.fields["kind"].choices if c[0] != ContactKind.EVALUATION]
    return form


_contact_fields_shown: dict[str, SafeString] = {}


def _contact_fields(engine) -> SafeString:
    """The «Registrer kontakt» form's fields as `patients/_field.html` renders them. The form is
    unbound and holds nothing of the patient (the csrf token and the address are outside it), so its
    HTML is the same on every patient page: rendered once per language and process, not on every
    page (the widgets' templates were a tenth of the page's time)."""
    language = get_language()
    shown = _contact_fields_shown.get(language)
    if shown is None:
        field_template = engine.get_template("patients/_field.html")
        # each piece is the template engine's output, escaped there
        shown = mark_safe("".join(field_template.render(Context({"field": f})) for f in _contact_form()))
        _contact_fields_shown[language] = shown
    return shown


def _e(value) -> str:
    return escape(str(value))  # what the template's autoescape writes


def _when(value) -> str:
    """The template's `|date:"d.m.Y H:i"`: local time; nothing for no time."""
    return datetime_text(value) if value is not None else ""


def alert_history_rows(alerts: list) -> SafeString:
    """The «Varsler» table's rows: each alert (opened, colour, why, status) and its events (as
    triage.selectors.patient_follow_up names them: `history`, `taken_by_name`, `handled_by_name`). Written
    here rather than in the template: thirty alerts with their events were a fifth of the page's
    template time (a date filter, a display, a colour word per event). Every value is escaped."""
    words = _Words()
    zone = timezone.get_current_timezone()  # once per page, not twice per event
    taken_by = _e(_("tatt av"))
    rows = []
    for a in alerts:
        status = words.status(a)
        if a.handled_by_name:
            status += f", {_e(a.handled_by_name)} {_when(a.handled_at)}"
        elif a.taken_by_name:
            status += f", {taken_by} {_e(a.taken_by_name)}"
        events = "".join([_event(e, words, zone) for e in a.history])
        rows.append(
            f'<tr><td>{_when(a.opened_at)}</td><td><span class="badge band-{_e(a.colour)}">'
            f"{words.colour(a.colour)}</span></td><td>{_e(a.reason)}</td>\n"
            f'    <td>{status}</td>\n    <td><ol class="alert-events">{events}</ol></td></tr>'
        )
    return mark_safe("".join(rows))  # escaped piece by piece above


class _Words:
    """What a history repeats on every row (an alert's status, an event kind's name, a colour's word, a
    person's name), translated and escaped once per page: some eighty events each asked the
    translations again."""

    def __init__(self):
        self._found: dict[tuple, str] = {}

    def _get(self, key: tuple, make) -> str:
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = make()
        return found

    def status(self, alert) -> str:
        # Django's get_FOO_display makes a dict of the field's choices on every call, translating each
        return self._get(("status", alert.status), lambda: _e(alert.get_status_display()))

    def kind(self, event) -> str:
        return self._get(("kind", event.kind), lambda: _e(event.get_kind_display()))

    def colour(self, colour: str, lower: bool = False) -> str:
        def word() -> str:
            text = str(colour_word(colour))
            return _e(text.lower() if lower else text)

        return self._get(("colour", colour, lower), word)

    def name(self, name: str) -> str:
        return self._get(("name", name), lambda: _e(name))


def _event(e, words: _Words, zone) -> str:
    text = words.kind(e)
    if e.kind == "raised":
        text += f" {words.colour(e.previous_colour, True)} → {words.colour(e.colour, True)}"
    elif e.kind == "opened":
        text += f" ({words.colour(e.colour, True)})"
    if e.by_name:
        text += f", {words.name(e.by_name)}"
    if e.reason and e.kind != "handled":
        text += f": {_e(e.reason)}"
    at = e.at.astimezone(zone)  # timezone.localtime, the zone looked up once per page
    return f'<li><time datetime="{at.isoformat()}">{at.strftime(DATETIME)}</time> {text}</li>'


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
