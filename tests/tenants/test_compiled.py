"""tenants.compiled: a queryset compiled once gives, for any values and day, what the queryset itself
gives (the gateways' two compiled queries: tests/measurements/test_compiled_gateway.py)."""

import datetime

import pytest
from django.utils import timezone

from tenants.compiled import CompiledQuery
from tenants.models import Agreement
from tenants.services import agreement_save

MARK = -9_000_001


def _partners(day, centre_id):
    return (
        Agreement.objects.active(on=day)
        .filter(centre_id=centre_id)
        .order_by("municipality_id")
        .values_list("municipality_id", "valid_from")
    )


def test_the_compiled_sql_gives_the_querysets_rows_for_every_value_and_day(world):
    today = timezone.localdate()
    tomorrow = today + datetime.timedelta(days=1)
    ended = Agreement.objects.get(municipality=world.m.gjerdrum)
    ended.valid_to = today  # in force today, not tomorrow
    agreement_save(agreement=ended)
    compiled = CompiledQuery(_partners, centre_id=MARK)
    for day in (today, tomorrow, today):  # the day is the key: each day's SQL is its own
        for centre in (world.centres.ovre, world.centres.agder):
            assert compiled.rows(day, centre_id=centre.pk) == list(_partners(day, centre.pk))
    assert (world.m.gjerdrum.pk, Agreement.objects.get(municipality=world.m.gjerdrum).valid_from) in compiled.rows(
        today, centre_id=world.centres.ovre.pk
    )
    assert world.m.gjerdrum.pk not in [m for m, _ in compiled.rows(tomorrow, centre_id=world.centres.ovre.pk)]


@pytest.mark.parametrize("where", ["missing", "twice"])
def test_a_marker_that_is_not_exactly_one_parameter_is_refused(world, where):
    if where == "missing":
        compiled = CompiledQuery(lambda day, centre_id: _partners(day, 1), centre_id=MARK)
    else:
        compiled = CompiledQuery(
            lambda day, centre_id: _partners(day, centre_id).filter(municipality_id__gt=centre_id), centre_id=MARK
        )
    with pytest.raises(ValueError, match="centre_id"):
        compiled.rows(timezone.localdate(), centre_id=1)
