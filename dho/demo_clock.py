"""The demo's clock: the year of history (dho/demo_history.py) is made through the real services at
the moments it happened, without a date keyword in any product service.

Every service dates what it does by `django.utils.timezone.now()` (a vedtak «today», an alert opened
«now», a nurse's take and handling «now»), as do the rows' own defaults (`default=timezone.now`:
a vedtak's `decided_at`, a vurdering's `assessed_at`, a status row's `at` …). Inside
`demo_clock()` both answer the moment the demo has set (`clock.at(moment)`); outside it, and once
the block ends, the real time again. The insight tests pin the same function (tests/insight/conftest.py).

The rows' defaults hold Django's function itself, so the block swaps each such field's default for
the clock's and puts it back at the end. What the database dates by its own `now()` (the audit log)
keeps the real time: it says when the demo wrote it. One thread only: `seed_demo` is a command.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager

from django.apps import apps
from django.utils import timezone


class DemoClock:
    """What `timezone.now()` answers inside `demo_clock()`: the moment set last (aware)."""

    def __init__(self) -> None:
        self.moment: datetime.datetime | None = None

    def at(self, moment: datetime.datetime) -> datetime.datetime:
        if timezone.is_naive(moment):
            raise ValueError("the demo's clock takes an aware moment")
        real = _REAL_NOW()
        # Never ahead of the real time: a service would refuse the real «today» afterwards.
        self.moment = min(moment, real)
        return self.moment

    def now(self) -> datetime.datetime:
        return self.moment or _REAL_NOW()


_REAL_NOW = timezone.now


def _stamped_fields() -> list:
    """Every model field whose default is Django's `timezone.now` (a row stamped when it is made)."""
    return [
        field
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if getattr(field, "default", None) is _REAL_NOW
    ]


def _set_default(field, default) -> None:
    field.default = default
    field.__dict__.pop("_get_default", None)  # Django caches the default's callable per field


@contextmanager
def demo_clock() -> Iterator[DemoClock]:
    """`timezone.now()` and the stamped defaults answer `clock.at(…)` until the block ends."""
    if timezone.now is not _REAL_NOW:
        raise RuntimeError("the demo's clock is already running")
    clock = DemoClock()
    fields = _stamped_fields()
    timezone.now = clock.now
    for field in fields:
        _set_default(field, clock.now)
    try:
        yield clock
    finally:
        timezone.now = _REAL_NOW
        for field in fields:
            _set_default(field, _REAL_NOW)
