import datetime

import pytest
from django.test import Client
from django.utils import timezone

from measurements.services import integration_create


@pytest.fixture
def gateway(world):
    """A device gateway of the Øvre centre and a client that posts with its token."""
    integration, token = integration_create(centre=world.centres.ovre, name="Testgateway")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def post(path, body, content_type="application/json"):
        return client.post(path, body, content_type=content_type)

    return type("Gateway", (), {"integration": integration, "token": token, "post": staticmethod(post)})


@pytest.fixture
def now_iso():
    def _at(minutes_ago: float = 1) -> str:
        return (timezone.localtime() - datetime.timedelta(minutes=minutes_ago)).isoformat()

    return _at
