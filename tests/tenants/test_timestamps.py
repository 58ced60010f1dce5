"""Timestamps are read with psycopg's parser (C where installed), not Django's pure-Python one, and
read back exactly as Django's would: the same instant, with the connection's zone (UTC) on it."""

import datetime

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from psycopg.pq import Format

from tenants.timestamps import TIMESTAMPTZ_OID, TimestamptzLoader

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


def _read(literal: str) -> datetime.datetime:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT '{literal}'::timestamptz")
        return cursor.fetchone()[0]


def test_the_connection_reads_timestamps_with_the_platforms_loader_in_its_zone():
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    assert issubclass(loader, TimestamptzLoader)
    assert not issubclass(loader, BaseTzLoader)  # Django's, parsing in Python, is replaced
    assert loader.timezone == connection.timezone == UTC  # Django's cursors then register nothing of their own


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("2026-12-07 09:15:33.123456+00", datetime.datetime(2026, 12, 7, 9, 15, 33, 123456, tzinfo=UTC)),
        # Norwegian offsets, the hours around both DST changes, and a value from before 1970
        ("2026-03-29 01:59:59+01", datetime.datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)),
        ("2026-03-29 03:00:00+02", datetime.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        ("2026-10-25 02:30:00+02", datetime.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        ("2026-10-25 02:30:00+01", datetime.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
        ("1950-06-01 12:00:00+01", datetime.datetime(1950, 6, 1, 11, 0, tzinfo=UTC)),
    ],
)
def test_a_timestamp_is_read_as_the_same_instant_in_utc(literal, expected):
    value = _read(literal)
    assert value == expected
    assert value.tzinfo is UTC  # what Django's loader gives: `timezone.localtime` and the templates rely on it


def test_a_models_timestamp_round_trips_to_the_microsecond():
    from django.contrib.sessions.models import Session

    at = datetime.datetime(2026, 3, 29, 2, 30, 0, 654321, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    Session.objects.create(session_key="t" * 32, session_data="", expire_date=at)
    read = Session.objects.get(session_key="t" * 32).expire_date
    assert read == at
    assert read.tzinfo is UTC
