"""Retention: months of readings and answers out of the live tables, kept whole in the schema
`archive` (never dropped). docs/readings-and-fhir.md, «Partitions and retention»."""

from django.core.management.base import BaseCommand, CommandError

from measurements import partitions
from tenants.errors import NotAllowed, Refused
from tenants.norwegian import grouped


class Command(BaseCommand):
    help = (
        "Flytt månedspartisjoner av målinger og skjemasvar eldre enn en måned ut av de levende tabellene, "
        "til skjemaet «archive» (ingenting slettes). Kjøres som tabellenes eier (DHO_DB_AS_OWNER=1)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--before", required=True, help="ÅÅÅÅ-MM: partisjonene for månedene før denne arkiveres")
        parser.add_argument("--dry-run", action="store_true", help="vis hva som ville blitt arkivert, uten å endre noe")
        parser.add_argument("--dump", metavar="MAPPE", help="skriv også hver arkiverte tabell med pg_dump til mappen")

    def handle(self, *args, before, dry_run, dump, **options):
        try:
            month = partitions.parse_month(before)
            if dry_run:
                self._list(partitions.archive_plan(before=month), "Ville arkivert")
                return
            done = partitions.partitions_archive(before=month, dump_to=dump)
        except (Refused, NotAllowed) as exc:
            raise CommandError(str(exc)) from exc
        self._list([p for p, _ in done], "Arkivert")
        for partition, path in done:
            if path:
                self.stdout.write(f"  {partition.archived_name} → {path}")

    def _list(self, found, verb: str) -> None:
        if not found:
            self.stdout.write("Ingen partisjoner å arkivere før den måneden.")
            return
        for p in found:
            linked = f", {grouped(p.linked_to_alerts)} knyttet til varsler" if p.linked_to_alerts else ""
            self.stdout.write(
                f"{verb}: {p.name} ({p.month:%Y-%m}, {grouped(p.rows)} rader{linked}) → {p.archived_name}"
            )
