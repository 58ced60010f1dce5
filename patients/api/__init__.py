"""The patients app's API, by concern: record (the patient record), forlop (henvisning to avslutning)
and equipment (the device register and loans). `PatientScopedAPIView` is the base other apps'
patient endpoints subclass, kept importable from here."""

from patients.api.base import PatientScopedAPIView

__all__ = ["PatientScopedAPIView"]
