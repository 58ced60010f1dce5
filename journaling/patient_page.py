"""Journaling's part of triage's note list on the patient page (triage/extensions.py, registered in
`JournalingConfig.ready()`): beside each journal note and each contact that went to the kommune's EPJ,
its state — «Sendt», «Mottatt», «Journalført» with the time, «Feilet» with the reason (and the next
try, or «trenger oppfølging» when it is stopped). A note of a kommune that sends nothing has no
delivery and no mark, and keeps «Kopier til journal». One query for the whole page; the page has the
patient from the scope selector and audits its read."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils import timezone

from triage.extensions import CONTACT, NOTE, NoteMark

from .presentation import state_text
from .selectors import deliveries_of_sources

TEMPLATE = "journaling/_delivery_state.html"


def note_marks(notes: list, contacts: list) -> dict[tuple[str, int], NoteMark]:
    now = timezone.now()
    marks: dict[tuple[str, int], NoteMark] = {}
    for delivery in deliveries_of_sources([n.pk for n in notes], [c.pk for c in contacts]):
        key = (NOTE, delivery.journal_note_id) if delivery.journal_note_id else (CONTACT, delivery.contact_id)
        html = render_to_string(TEMPLATE, {"delivery": delivery, "state": state_text(delivery, now)})
        marks[key] = NoteMark(html=html, sent=True)
    return marks
