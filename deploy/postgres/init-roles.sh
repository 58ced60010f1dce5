#!/bin/sh
# The database's first start (the postgres image runs /docker-entrypoint-initdb.d once, on an empty
# volume, as the superuser). Two roles, neither a superuser:
#   dho_owner  owns the database and, through migrate, every table. BYPASSRLS because the row-level
#              security policies are forced on the tables' owner too, and migrations and the
#              SECURITY DEFINER functions read across municipalities. No CREATEROLE: dho_app is made here.
#   dho_app    what web, worker and beat connect as: owns nothing, bypasses nothing.
# The passwords come from .env (scripts/compose-secrets.sh) through docker-compose.yml; a later
# change of .env does not change them (docs/operations.md, docker compose).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v owner_password="$DHO_DB_OWNER_PASSWORD" -v app_password="$DHO_DB_APP_PASSWORD" <<'SQL'
CREATE ROLE dho_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS PASSWORD :'owner_password';
CREATE ROLE dho_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD :'app_password';
CREATE DATABASE dho OWNER dho_owner;
REVOKE ALL ON DATABASE dho FROM PUBLIC;
GRANT CONNECT ON DATABASE dho TO dho_app;
SQL
