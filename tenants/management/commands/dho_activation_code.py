from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tenants.activation import AlreadySetUp, activation_code_issue
from tenants.norwegian import datetime_text
from tenants.two_factor import two_factor_reset

NAME = "dho_activation_code"


class Command(BaseCommand):
    help = (
        "Lag en aktiveringskode for en bruker, som trengs for å sette opp autentiseringsappen (for eksempel "
        "for den første administratoren i en ny installasjon). Koden skrives ut én gang og lagres bare som hash."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="brukernavnet")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="nullstill tofaktor først (app og reservekoder slettes), for eksempel etter en mistet telefon",
        )

    def handle(self, *args, username, reset, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"Ingen bruker heter «{username}».")
        if reset:
            two_factor_reset(user=user, system=NAME)
        try:
            issued = activation_code_issue(user=user, system=NAME)
        except AlreadySetUp as already:
            raise CommandError(f"{already} (eller bruk --reset)") from None
        expires = datetime_text(issued.expires_at, kl=True)
        self.stdout.write(f"Aktiveringskode for {user.get_username()}: {issued.code}  (gyldig til {expires})")
