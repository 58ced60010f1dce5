import os

from django.core.wsgi import get_wsgi_application

from dho.heap import tune_gc

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dho.settings")
application = get_wsgi_application()


def hosts_required() -> None:
    """The web server refuses to start outside debug with no ALLOWED_HOSTS: it would answer every
    request 400 (and its health check, which only asks for an answer, call that healthy). Here and
    not in the settings: the worker, beat and migrate serve no host and need none."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    if not settings.DEBUG and not settings.ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS må settes (vertsnavnene plattformen nås på, som «dho.kommune.no»); "
            "uten den svarer webserveren 400 på alt."
        )


hosts_required()
# Each gunicorn worker imports this module itself (no preload): its heap is frozen here.
tune_gc()
