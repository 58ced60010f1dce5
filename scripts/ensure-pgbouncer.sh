#!/bin/sh
# `make test-pooler` and tests/dho/test_pooler.py put Debian's PgBouncer (transaction mode) in front of
# the PostgreSQL (dho/pooler.py). Installs it with apt when we may (root); otherwise says why the
# pooler's tests skip. The Debian package's own service is not started (the pooler runs per command).
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installerer Debians pgbouncer for testene gjennom en tilkoblingspooler …"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer) >/dev/null 2>&1 \
    || echo "Kunne ikke installere pgbouncer; testene av poolen hoppes over, og make test-pooler kan ikke kjøre."
else
  echo "Mangler pgbouncer (apt-get install pgbouncer); testene av poolen hoppes over, og make test-pooler kan ikke kjøre."
fi
exit 0
