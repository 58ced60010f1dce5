from django.core.management.base import BaseCommand, CommandError

from measurements.services import integration_create
from tenants.models import Centre


class Command(BaseCommand):
    help = "Opprett en integrasjon (enhetsgateway) for et senter og skriv ut tokenet én gang."

    def add_arguments(self, parser):
        parser.add_argument("centre_slug")
        parser.add_argument("name")

    def handle(self, *args, centre_slug, name, **options):
        centre = Centre.objects.filter(slug=centre_slug).first()
        if centre is None:
            raise CommandError(f"Fant ikke senteret «{centre_slug}».")
        if centre.integrations.filter(name=name).exists():
            raise CommandError(f"Senteret har allerede en integrasjon som heter «{name}».")
        integration, token = integration_create(centre=centre, name=name)
        self.stderr.write(f"Integrasjon «{integration.name}» opprettet for {centre.name}. Tokenet vises bare nå:")
        self.stdout.write(token)
