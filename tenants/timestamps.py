"""How the platform's database connections read `timestamptz` values.

Django reads them with its own loader (`django.db.backends.postgresql.psycopg_any.BaseTzLoader`),
a subclass of psycopg's *pure-Python* parser, so psycopg's C parser, installed with
`psycopg[binary]`, is never used for the commonest column the platform reads: a patient page's
ninety days of readings, its alerts and their events were some six hundred timestamps parsed in
Python, about 4 µs each (2.5 ms of the page). The loader here does what Django's does — the value
with the connection's time zone set on it (`replace`, not a conversion: PostgreSQL already sent it
in that zone, the session's `TimeZone` that Django sets) — with psycopg's own parser, C where it is
installed: about 1.5 µs a value. Registered on each new connection (TenantsConfig.ready), where
Django registered its own; Django's cursors then find the zone they expect and register nothing."""

from __future__ import annotations

import datetime
import functools

from psycopg import adapters
from psycopg.adapt import Loader
from psycopg.pq import Format

TIMESTAMPTZ_OID = adapters.types["timestamptz"].oid
# psycopg's own loader, as psycopg registered it globally: its C class where the binary package is
# installed (the pure-Python one otherwise). Looked up once: a cursor makes a loader per query.
_PARSER = adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)


class TimestamptzLoader(Loader):
    """psycopg's parser, then Django's `replace(tzinfo=…)`; `timezone` is what Django's cursors
    compare against the connection's."""

    timezone: datetime.tzinfo | None = None

    def __init__(self, oid: int, context=None):
        super().__init__(oid, context)
        self._parse = _PARSER(oid, context).load

    def load(self, data):
        return self._parse(data).replace(tzinfo=self.timezone)


@functools.cache
def loader_for(timezone: datetime.tzinfo | None) -> type[TimestamptzLoader]:
    return type("TimestamptzLoader", (TimestamptzLoader,), {"timezone": timezone})


def connection_register(sender, connection, **kwargs) -> None:
    """`connection_created`: this loader for the new PostgreSQL connection, in the zone Django's was."""
    if connection.vendor == "postgresql":
        connection.connection.adapters.register_loader("timestamptz", loader_for(connection.timezone))
