#!/usr/bin/env python
"""Django's command line. In a terminal that configures nothing, it borrows the settings of the
`make run` that is running from this checkout (see `use_running_platform`); in debug or test mode
without DATABASE_URL / REDIS_URL and without `make run`, it runs itself on embedded servers started
for this one command and stopped when it ends (see `run_on_own_services`), so it leaves none behind."""

import os
import sys

from dho import embedded

NOT_RUNNING = """\
manage.py: `make run` kjører ikke her, og verken DHO_DEBUG eller SECRET_KEY er satt.
  - Start `make run` i en annen terminal og kjør kommandoen igjen: den bruker da plattformens
    database og Redis.
  - Uten plattformen (de innebygde tjenestene under var/, startet og stoppet for denne ene kommandoen):
      DHO_DEBUG=1 .venv/bin/python manage.py …
    (det samme som DHO_DEBUG=1 .venv/bin/python -m dho.embedded with-services -- .venv/bin/python manage.py …)
  - Mot en konfigurert server: sett SECRET_KEY, DATABASE_URL og REDIS_URL (docs/operations.md).
(English: `make run` is not running and neither DHO_DEBUG nor SECRET_KEY is set. Start `make run`
in another terminal, or use the line above, or set the production settings.)"""

# What a terminal may set and still be given the running platform's settings: only the very values
# the platform uses. Anything else means the terminal is configured for something else.
BORROWED = ("DATABASE_URL", "REDIS_URL")


def use_running_platform() -> None:
    """Give a bare `manage.py …` the debug mode, database and Redis of the running `make run`.

    Only where the settings would refuse to start (no SECRET_KEY, DHO_DEBUG not chosen, not a test
    run), so no configured environment changes; production always sets SECRET_KEY. Says so on
    stderr. Without a live `make run` it says what to do instead of a traceback.
    """
    if any(os.environ.get(name) for name in ("SECRET_KEY", "DHO_DEBUG", "DHO_TESTING")):
        return
    run = embedded.running_platform()
    if run is None:
        sys.exit(NOT_RUNNING)
    if any(os.environ.get(name) not in (None, "", run[name]) for name in BORROWED):
        sys.exit(
            f"manage.py: DATABASE_URL/REDIS_URL peker et annet sted enn dit `make run` (pid {run['pid']}) gjør;\n"
            "fjern dem for å bruke plattformen, eller sett DHO_DEBUG=1 (utvikling) eller SECRET_KEY selv.\n"
            "(English: DATABASE_URL/REDIS_URL differ from the running `make run`'s: unset them to use it, "
            "or set DHO_DEBUG=1 or SECRET_KEY yourself.)"
        )
    for name in ("DHO_DEBUG", *BORROWED):
        os.environ[name] = run[name]
    print(f"manage.py: bruker innstillingene til `make run` (pid {run['pid']}, {run['address']}).", file=sys.stderr)


def run_on_own_services() -> None:
    """In debug or test mode, with no database or no Redis configured and none running, run this very
    command under `dho.embedded.with_services`: it starts what is missing, and stops it when the
    command ends however it ends (Ctrl-C, SIGTERM). The settings never start a server themselves,
    since one started by an import would be left running after the command."""
    development = any(
        os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on") for name in ("DHO_DEBUG", "DHO_TESTING")
    )
    if development and embedded.services_missing():
        sys.exit(embedded.with_services([sys.executable, *sys.argv]))


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dho.settings")
    use_running_platform()
    run_on_own_services()
    # Migrations create and alter the tables, so they run as their owner, and so does the retention
    # command that detaches old months of readings (measurements/partitions.py); everything else as
    # the app's role, under row-level security (tenants/rls.py).
    if sys.argv[1:2] in (["migrate"], ["archive_partitions"]):
        os.environ.setdefault("DHO_DB_AS_OWNER", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
