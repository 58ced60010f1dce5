#!/bin/sh
# Writes .env for docker compose: a new random password for the PostgreSQL superuser, the tables'
# owner (dho_owner, which migrates) and the app role (dho_app). Hex, so they need no escaping in a
# database URL. Never overwrites an .env: the database keeps the passwords it was first started with.
set -eu
cd "$(dirname "$0")/.."
if [ -e .env ]; then
    echo ".env finnes allerede og blir stående (databasen beholder passordene den ble startet med)." >&2
    exit 0
fi
secret() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
umask 077
{
    echo "# docker compose's database passwords (scripts/compose-secrets.sh). Keep this file secret."
    echo "POSTGRES_PASSWORD=$(secret)"
    echo "DHO_DB_OWNER_PASSWORD=$(secret)"
    echo "DHO_DB_APP_PASSWORD=$(secret)"
} > .env
echo "Skrev .env med tre nye databasepassord."
