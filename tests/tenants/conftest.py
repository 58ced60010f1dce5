"""The login's own OpenID provider (tests/tenants/oidc_provider.py) as a fixture, and the steps of a
HelseID login through it."""

from urllib.parse import urlsplit

import pytest

from tenants import oidc, persons
from tests.tenants import oidc_provider


@pytest.fixture
def idp(settings, tmp_path):
    provider, server = oidc_provider.running(tmp_path)
    for name, value in vars(oidc_provider.settings_for(provider)).items():
        setattr(settings, name, value)
    oidc.cache_clear()
    yield provider
    server.shutdown()
    server.server_close()
    oidc.cache_clear()


def bind(user, person):
    from tenants.models import PersonBinding

    return PersonBinding.objects.create(user=user, pid_digest=persons.pid_digest(person["pid"]),
                                        hpr_number=person.get("hpr", ""), bound_by="test")  # fmt: skip


def start(client, **form):
    response = client.post("/innlogging/helseid/", form)
    assert response.status_code == 302, response.content.decode()[:500]
    return response["Location"]


def log_in(client, idp, person, **form):
    """Through the whole round: the start, the person at the provider, the callback."""
    back = idp.authorize(start(client, **form), person=person)
    parts = urlsplit(back)
    return client.get(f"{parts.path}?{parts.query}")
