"""The alarm figures counted on a second connection beside the rest (insight.aggregates._alerts_beside):
the same figures as one connection counts them, in the caller's scope, with nothing left open.

Transactional tests: the second connection sees only committed rows, as in production (the rest of
the suite, whose rows are in a transaction of its own, counts on one connection)."""

import pytest
from django.db import connection, transaction

from insight import aggregates
from insight.periods import period_parse
from tenants.rls import scoped
from tests.insight.conftest import march
from tests.insight.test_aggregates import ALL, _cells, _unruled

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def beside(monkeypatch, settings):
    """The second connection on; → the calls it counted (the caller's thread never counts there)."""
    import threading

    settings.INSIGHT_SECOND_CONNECTION = True
    calls = []
    real = aggregates._alerts_in_snapshot

    def counted(*args):
        result = real(*args)
        # (in a thread of its own, and that thread's connection closed: counted behind a pooler too,
        # where the server's count of backends says nothing of what the app closed)
        calls.append((threading.current_thread() is not threading.main_thread(), connection.connection is None))
        return result

    monkeypatch.setattr(aggregates, "_alerts_in_snapshot", counted)
    return calls


def _both(settings, centre, ids, period, **kwargs):
    settings.INSIGHT_SECOND_CONNECTION = False
    alone = _cells(_unruled(centre, ids, period, **kwargs))
    settings.INSIGHT_SECOND_CONNECTION = True
    return alone, _cells(_unruled(centre, ids, period, **kwargs))


def test_the_second_connection_counts_what_one_connection_counts(scenario, beside, settings):
    m, centre = scenario.world.m, scenario.world.centres.ovre
    ids = [m.ullensaker.pk, m.gjerdrum.pk, m.nannestad.pk]
    period = period_parse("2100-03-01", "2100-03-28", "week", today=march(28))
    alone, beside_it = _both(settings, centre, ids, period, whole_centre=True, sections=ALL)
    assert beside == [(True, True)], "counted in a thread of its own, whose connection is closed after"
    assert beside_it == alone
    assert any(v for (_a, _i, section, _k), (v, *_rest) in alone.items() if section == "alarm_burden")


def test_it_counts_in_the_callers_scope_and_snapshot(scenario, beside, settings):
    """Under a scope of Gjerdrum alone both count only Gjerdrum's alerts; had the thread no scope of its
    own it would see none, had it every kommune's it would count Nannestad's too."""
    m, centre = scenario.world.m, scenario.world.centres.ovre
    ids = [m.ullensaker.pk, m.gjerdrum.pk, m.nannestad.pk]
    period = period_parse("2100-03-01", "2100-03-28", "week", today=march(28))
    everyone = _both(settings, centre, ids, period, whole_centre=True, sections=["alarm_burden"])[0]
    with scoped([m.gjerdrum.pk]):
        alone, beside_it = _both(settings, centre, ids, period, whole_centre=True, sections=["alarm_burden"])
    assert beside_it == alone != everyone
    nannestad = [
        v for (area, _i, _s, key), (v, *_r) in alone.items() if area == str(m.nannestad.pk) and key == "alerts"
    ]
    assert nannestad and not any(nannestad), "nothing of Nannestad's is seen under Gjerdrum's scope"


def test_inside_a_savepoint_it_counts_on_the_callers_connection(scenario, beside, settings):
    """No snapshot is exported inside a savepoint: the same figures, one after the other, no error."""
    m, centre = scenario.world.m, scenario.world.centres.ovre
    ids = [m.gjerdrum.pk, m.nannestad.pk]
    period = period_parse("2100-03-01", "2100-03-28", "week", today=march(28))
    settings.INSIGHT_SECOND_CONNECTION = False
    alone = _cells(_unruled(centre, ids, period, whole_centre=False, sections=ALL))
    settings.INSIGHT_SECOND_CONNECTION = True
    with transaction.atomic(), transaction.atomic():
        assert _cells(_unruled(centre, ids, period, whole_centre=False, sections=ALL)) == alone
    assert beside == []
