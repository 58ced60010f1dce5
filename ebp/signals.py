from django.db.models.signals import post_save
from django.dispatch import receiver

from ebp.services import centre_defaults_ensure
from tenants.models import Centre


@receiver(post_save, sender=Centre, dispatch_uid="ebp.centre_defaults")
def _centre_saved(sender, instance: Centre, created: bool, **kwargs):
    # A new centre can start plans at once: it gets the built-in templates and default thresholds.
    if created:
        centre_defaults_ensure(instance)
