"""Journaling's answers to triage (triage sends, journaling listens: no upward import). Both run
inside the transaction that writes the note or the contact, so the outbox row commits with it or not
at all; the send is queued after the commit (services._delivery_write)."""

from django.dispatch import receiver

from triage.services import contact_recorded, journal_note_written

from . import services


@receiver(journal_note_written, dispatch_uid="journaling.outbox_note")
def _journal_note_written(sender, note, **kwargs):
    services.delivery_for_note(note=note)


@receiver(contact_recorded, dispatch_uid="journaling.outbox_contact")
def _contact_recorded(sender, contact, **kwargs):
    services.delivery_for_contact(contact=contact)
