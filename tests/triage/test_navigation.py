"""The main menu shows «Utstyr» only to who keeps a centre's device register: a centre's nurses and
admins, not a municipality's own nurse (Nordre Follo), for whom the page is a 404."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

EQUIPMENT_LINK = 'href="/utstyr/"'
ROLES_SHOWN = {"nurse": True, "nurse_agder": True, "admin": True, "nurse_nordrefollo": False,
               "coordinator": False, "gp": False, "specialist": False, "finance": False}  # fmt: skip


@pytest.mark.parametrize(("role", "shown"), ROLES_SHOWN.items())
def test_the_equipment_link_shows_exactly_to_who_keeps_a_register(world, login, role, shown):
    client = login(getattr(world.u, role))
    page = client.get("/patients/")  # a page with the menu that opens for every role
    assert page.status_code == 200
    assert (EQUIPMENT_LINK in page.content.decode()) is shown, role
    assert (client.get("/utstyr/").status_code == 200) is shown, role  # the link never leads to a 404


def _register_queries(client) -> int:
    """How many times a page asked whose register the user keeps (register_centre_ids' query)."""
    with CaptureQueriesContext(connection) as page:
        client.get("/patients/")
    return sum('"tenants_membership"."role" IN' in q["sql"] and "centre_id" in q["sql"] for q in page.captured_queries)


def test_the_equipment_link_asks_no_query_of_its_own(world, login):
    """Whose register the user keeps comes from the memberships the request's scope was made of
    (tenants.selectors.user_scope): the menu and the patient page's «Ta imot» ask the database nothing more."""
    assert _register_queries(login(world.u.coordinator)) == 0
    assert _register_queries(login(world.u.nurse)) == 0
    assert _register_queries(login(world.u.admin)) == 0
