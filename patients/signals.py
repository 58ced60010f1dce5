from django.db.models.signals import post_save
from django.dispatch import receiver

from patients.models import Patient
from patients.services import gp_permission_sync


@receiver(post_save, sender=Patient, dispatch_uid="patients.gp_permission_sync")
def _patient_saved(sender, instance: Patient, update_fields=None, **kwargs):
    # Whatever path changed `gp` (service, admin, shell), the object permission follows it. A save of
    # named fields without `gp` did not write it: the permission already follows the stored fastlege.
    if update_fields is not None and "gp" not in update_fields and "gp_id" not in update_fields:
        return
    gp_permission_sync(instance)
