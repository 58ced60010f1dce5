"""Triage's part of the avslutning's confirmation. `patients/end_confirm.html` is the patients app's
page, and patients sits below triage: it cannot list the alerts the end will close. This tag does
(CONTRIBUTING, "Layers"); `triage/signals.py` closes them when the end is recorded."""

from django import template

from triage.models import Alert, AlertStatus

register = template.Library()


@register.simple_tag
def open_alerts(patient) -> list[Alert]:
    """`{% open_alerts patient as alerts %}`: the patient's open alerts (the page has the patient
    from the scope selector and audits its read), newest first."""
    return list(Alert.objects.filter(patient=patient, status=AlertStatus.OPEN).order_by("-opened_at"))
