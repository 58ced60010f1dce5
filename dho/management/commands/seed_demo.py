from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dho.demo import seed_demo


class Command(BaseCommand):
    help = "Last inn demodata (to sentre, ti kommuner, om lag 200 syntetiske pasienter, demo-pålogginger)."

    def handle(self, *args, **options):
        # Demo logins with a known password must never reach a production database.
        if not settings.DEBUG:
            raise CommandError("seed_demo kjører bare med DHO_DEBUG=1: demobrukerne har et kjent passord.")
        summary = seed_demo()
        self.stdout.write(
            f"Demodata klar: {summary.centres} sentre, {summary.municipalities} kommuner, "
            f"{summary.users} brukere, {summary.patients} pasienter."
        )
