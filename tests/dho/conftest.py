"""Helpers for the tests of the project package: API credentials that work whatever the login flow."""

import pytest
from django.apps import apps
from django.test import Client


def pytest_configure(config):
    config.addinivalue_line("markers", "schemathesis: fuzzes the API over its OpenAPI schema (tests/dho)")


def user_token(user) -> str:
    """A new API token for the user, made the way the installed token app makes them (django-rest-knox,
    else DRF's authtoken): no password, no second factor, so the test is about the API, not the login."""
    if apps.is_installed("knox"):
        from knox.models import AuthToken

        return AuthToken.objects.create(user=user)[1]
    from rest_framework.authtoken.models import Token

    return Token.objects.create(user=user).key


@pytest.fixture
def token_client(db):
    """token_client(user) → a test client that sends `Authorization: Token …` and returns 500s
    as responses (not exceptions), so a test can assert on them."""

    def _client(user):
        return Client(HTTP_AUTHORIZATION=f"Token {user_token(user)}", raise_request_exception=False)

    return _client
