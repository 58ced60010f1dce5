"""The OpenAPI schema (/api/schema/) maps every endpoint and field of a patient system: outside debug
mode only signed-in users (session past the second factor, or an API token) read it."""

from rest_framework.test import APIClient


def test_it_shows_the_schema_only_to_signed_in_users_outside_debug(world, settings, login, token_client):
    anonymous = APIClient().get("/api/schema/")
    assert anonymous.status_code in (401, 403)
    assert "/api/v1/" not in anonymous.content.decode()
    assert token_client(world.u.coordinator).get("/api/schema/").status_code == 200
    assert login(world.u.coordinator).get("/api/schema/").status_code == 200
    settings.DEBUG = True  # `make run`'s demo: the schema for anyone, as before
    assert APIClient().get("/api/schema/").status_code == 200
