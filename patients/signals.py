from django.db.models.signals import post_save
from django.dispatch import receiver

from patients.models import Patient
from patients.services import gp_permission_sync


@receiver(post_save, sender=Patient, dispatch_uid="patients.gp_permission_sync")
def _patient_saved(sender, instance: Patient, **kwargs):
    # Whatever path changed `gp` (service, admin, shell), the object permission follows it.
    gp_permission_sync(instance)
