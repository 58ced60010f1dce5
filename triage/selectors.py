"""Reads of alerts, always within the user's patient scope."""

import uuid

from django.db.models import Prefetch, QuerySet

from measurements.models import Answer, Reading
from patients.selectors import visible_patients
from triage.models import Alert


def visible_alerts(user) -> QuerySet[Alert]:
    return Alert.objects.filter(patient__in=visible_patients(user))


def alerts_for_list(
    user, *, status: str = "", municipality: str = "", colour: str = "", patient: str = ""
) -> QuerySet[Alert]:
    qs = visible_alerts(user).select_related("patient", "municipality")
    if patient:
        try:
            qs = qs.filter(patient_id=uuid.UUID(patient))
        except ValueError:
            return qs.none()
    if status:
        qs = qs.filter(status=status)
    if municipality:
        qs = qs.filter(municipality__number=municipality)
    if colour:
        qs = qs.filter(colour=colour)
    return qs.prefetch_related(
        Prefetch("readings", queryset=Reading.objects.order_by("-measured_at")),
        Prefetch("answers", queryset=Answer.objects.order_by("-answered_at")),
    )
