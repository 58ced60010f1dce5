"""tenants.compiled: a queryset compiled once gives, for any values and day, what the queryset itself
gives (the gateways' two compiled queries: tests/measurements/test_compiled_gateway.py)."""

import datetime
import threading

import pytest
from django.utils import timezone

from tenants.compiled import CompiledQuery
from tenants.models import Agreement, Membership
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


def _memberships(_key, centre_id):
    return Membership.objects.filter(centre_id=centre_id).select_related("user", "centre").defer("hpr_number")


def test_the_compiled_objects_are_the_querysets_own_related_rows_and_deferred_fields_included(world):
    compiled = CompiledQuery(_memberships, centre_id=MARK)
    for centre in (world.centres.ovre, world.centres.agder, world.centres.ovre):
        made = sorted(compiled.objects(None, centre_id=centre.pk), key=lambda m: m.pk)
        expected = sorted(_memberships(None, centre.pk), key=lambda m: m.pk)
        assert [(m.pk, m.role, m.user.username, m.centre.slug) for m in made] == [
            (m.pk, m.role, m.user.username, m.centre.slug) for m in expected
        ]
        assert made and all(type(m) is Membership and not m._state.adding for m in made)
        assert {"hpr_number"} == made[0].get_deferred_fields()  # deferred as the queryset defers it
    assert "nurse_agder" not in {m.user.username for m in compiled.objects(None, centre_id=world.centres.ovre.pk)}


@pytest.mark.django_db(transaction=True)  # the other thread's connection sees the committed world
def test_compiled_in_one_thread_it_runs_on_the_calling_threads_connection(world):
    """gunicorn's threads share the module's compiled queries; each runs on its own connection."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    compiled = CompiledQuery(_memberships, centre_id=MARK)
    compiled.objects(None, centre_id=world.centres.ovre.pk)  # compiled here, on this thread's connection
    found = {}

    def other_thread():
        from django.db import connection as theirs

        with CaptureQueriesContext(theirs) as captured:
            found["slugs"] = {m.centre.slug for m in compiled.objects(None, centre_id=world.centres.agder.pk)}
        found["statements"] = len(captured)
        theirs.close()

    with CaptureQueriesContext(connection) as mine:
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert found == {"slugs": {"agder"}, "statements": 1}
    assert len(mine) == 0  # nothing went through the compiling thread's connection


def test_the_session_engine_reads_a_live_session_and_forgets_an_expired_or_unknown_key(world):
    """tenants.session_store reads the session's row through a compiled query: Django's rules hold."""
    from django.contrib.sessions.models import Session

    from tenants.session_store import SessionStore

    live = SessionStore()
    live["note"] = "her"
    live.create()
    expired = SessionStore()
    expired["note"] = "borte"
    expired.create()
    Session.objects.filter(session_key=expired.session_key).update(
        expire_date=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert SessionStore(session_key=live.session_key).load() == {"note": "her"}
    gone = SessionStore(session_key=expired.session_key)
    assert gone.load() == {} and gone.session_key is None  # an expired session is no session
    unknown = SessionStore(session_key="x" * 32)
    assert unknown.load() == {} and unknown.session_key is None


def test_a_sessions_user_is_found_while_active_and_not_after(world, login):
    from tenants.services import user_deactivate

    client = login(world.u.coordinator)
    assert client.get("/patients/").status_code == 200
    user_deactivate(user=world.u.coordinator, by=world.u.admin)
    assert client.get("/patients/").status_code == 302  # to the login page: the session's user is gone


def test_a_nurses_scope_is_read_in_one_statement_with_what_each_membership_opens(world):
    """The memberships and what they open (the kommuner a centre follows up, whether a kommune follows
    its own patients up) come from one statement: a centre nurse reaches the host and the partners the
    centre follows (not Nordre Follo, which follows its own), Nordre Follo's nurse her own kommune, and
    an agreement ended yesterday opens nothing today."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tenants.selectors import user_scope

    def reach(user):
        fresh = get_user_model().objects.get(pk=user.pk)  # the scope is kept on the user object
        with CaptureQueriesContext(connection) as captured:
            scope = user_scope(fresh)
        assert len(captured) == 1, [q["sql"] for q in captured]
        return set(scope.municipality_roles)

    m = world.m
    assert reach(world.u.nurse) == {m.ullensaker.pk, m.gjerdrum.pk, m.nannestad.pk}
    assert reach(world.u.nurse_nordrefollo) == {m.nordrefollo.pk}
    assert reach(world.u.nurse_agder) == {m.arendal.pk, m.grimstad.pk}
    assert reach(world.u.coordinator) == {m.gjerdrum.pk}
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    for kommune in (m.gjerdrum, m.nordrefollo):
        ended = Agreement.objects.get(municipality=kommune)
        ended.valid_to = yesterday
        agreement_save(agreement=ended)
    assert reach(world.u.nurse) == {m.ullensaker.pk, m.nannestad.pk}
    assert reach(world.u.nurse_nordrefollo) == set()
