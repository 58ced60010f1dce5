"""Request metadata the audit log can trust: X-Forwarded-For, X-Forwarded-Proto and a proxy's
X-Request-ID count only when our own reverse proxy (DHO_TRUSTED_PROXIES) sent them, the request id
is always ours, and nothing in a header can make a request fail."""

import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory

from dho.middleware import RequestIdLogFilter, RequestIdMiddleware, client_ip, request_id
from tenants.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]
PROXY = "10.0.0.5"


def _patient_page(token_client, world, **headers):
    """The nurse opens a patient (one audit_record) and the patient list (audit_record_many)."""
    client = token_client(world.u.nurse)
    detail = client.get(f"/api/v1/patients/{world.p.gjerdrum.pk}/", **headers)
    listing = client.get("/api/v1/patients/", **headers)
    return detail, listing


def _logged(world) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(username=world.u.nurse.username))


def test_a_forged_x_forwarded_for_is_stored_as_the_real_peer(world, token_client):
    detail, listing = _patient_page(token_client, world, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert detail.status_code == listing.status_code == 200
    events = _logged(world)
    assert len(events) >= 2  # the single record and the list's bulk insert
    assert {e.ip for e in events} == {"127.0.0.1"}  # the test client's peer, not the header


@pytest.mark.parametrize(
    "forwarded",
    ["not-an-ip", "999.1.1.1", "1.2.3.4, <script>", "," * 500, "ÿ\t", "1.2.3.4:8080", "unknown, 198.51.100.1"],
)
def test_a_garbage_x_forwarded_for_is_a_200_with_the_peer_logged(world, token_client, forwarded):
    detail, listing = _patient_page(token_client, world, HTTP_X_FORWARDED_FOR=forwarded)
    assert (detail.status_code, listing.status_code) == (200, 200)
    assert {e.ip for e in _logged(world)} == {"127.0.0.1"}


def test_behind_a_trusted_proxy_the_client_is_the_hop_the_proxy_names(world, token_client, settings):
    settings.DHO_TRUSTED_PROXIES = [PROXY, "10.1.0.0/16"]
    # The client wrote the first hop itself; our proxies appended the rest.
    forwarded = "198.51.100.77, 203.0.113.9, 10.1.2.3"
    detail, _ = _patient_page(token_client, world, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)
    assert detail.status_code == 200
    assert {e.ip for e in _logged(world)} == {"203.0.113.9"}


def test_a_proxy_that_is_not_configured_is_not_believed(world, token_client, settings):
    settings.DHO_TRUSTED_PROXIES = ["10.9.9.9"]
    _patient_page(token_client, world, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert {e.ip for e in _logged(world)} == {PROXY}


def test_a_client_request_id_is_replaced_by_ours(world, token_client):
    detail, _ = _patient_page(token_client, world, HTTP_X_REQUEST_ID="chosen-by-the-client")
    ours = detail["X-Request-ID"]
    assert ours != "chosen-by-the-client" and len(ours) == 32
    assert ours in {e.request_id for e in _logged(world)}
    assert "chosen-by-the-client" not in {e.request_id for e in _logged(world)}


def test_it_keeps_our_request_id_and_stores_a_trusted_proxys_beside_it(world, token_client, settings):
    settings.DHO_TRUSTED_PROXIES = [PROXY]
    detail, _ = _patient_page(token_client, world, REMOTE_ADDR=PROXY, HTTP_X_REQUEST_ID="lb-4f2a9c")
    ours = detail["X-Request-ID"]
    assert ours != "lb-4f2a9c" and re.fullmatch(r"[0-9a-f]{32}", ours)
    events = [e for e in _logged(world) if e.request_id == ours]
    assert events and {e.upstream_request_id for e in events} == {"lb-4f2a9c"}
    assert "lb-4f2a9c" not in {e.request_id for e in _logged(world)}
    # Even our proxy cannot put an unusable id in the log; a client's is never stored at all.
    for peer, sent in ((PROXY, "x" * 65), ("192.0.2.1", "chosen-by-the-client")):
        detail, _ = _patient_page(token_client, world, REMOTE_ADDR=peer, HTTP_X_REQUEST_ID=sent)
        assert detail.status_code == 200
        assert {e.upstream_request_id for e in _logged(world) if e.request_id == detail["X-Request-ID"]} == {""}


def test_it_logs_our_request_id_and_the_proxys_on_every_line(settings):
    settings.DHO_TRUSTED_PROXIES = [PROXY]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdLogFilter())
    handler.setFormatter(logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"]))
    logger = logging.getLogger("tests.request_id")
    logger.addHandler(handler)

    def view(request):
        logger.warning("inne i visningen")
        return HttpResponse()

    try:
        response = RequestIdMiddleware(view)(RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_REQUEST_ID="lb-77"))
    finally:
        logger.removeHandler(handler)
    assert f"[{response['X-Request-ID']} upstream=lb-77] inne i visningen" in stream.getvalue()


def test_it_believes_x_forwarded_proto_only_from_a_trusted_proxy(world, token_client, settings):
    """Plain HTTP with a forged `X-Forwarded-Proto: https` is still plain HTTP: redirected, not served."""
    settings.SECURE_SSL_REDIRECT = True
    forged = token_client(world.u.nurse).get("/api/v1/patients/", HTTP_X_FORWARDED_PROTO="https")
    assert forged.status_code == 301 and forged["Location"].startswith("https://")
    settings.DHO_TRUSTED_PROXIES = [PROXY]
    client = token_client(world.u.nurse)
    assert client.get("/api/v1/patients/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https").status_code == 200
    assert client.get("/api/v1/patients/", REMOTE_ADDR=PROXY).status_code == 301  # the proxy said nothing
    elsewhere = client.get("/api/v1/patients/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_PROTO="https")
    assert elsewhere.status_code == 301
    # gunicorn decides nothing from the header itself (by default it believes 127.0.0.1).
    conf = {}
    exec((ROOT / "dho/gunicorn_conf.py").read_text(), conf)  # noqa: S102 - our own config file
    assert conf["secure_scheme_headers"] == {}


GARBAGE_HEADERS = {
    "HTTP_X_FORWARDED_FOR": "\x00\x01 ÿ, ,, ::::",
    "HTTP_X_REQUEST_ID": "../../etc/passwd\r\nSet-Cookie: x=1"[:60] + "ÿ" * 500,
    "HTTP_X_REAL_IP": "not-an-ip",
    "HTTP_ACCEPT_LANGUAGE": "ÿÿ;q=abc,,*;q=-1",
    "HTTP_ACCEPT": "application/json;q=ÿ, */*;;",
    "HTTP_COOKIE": "csrftoken=ÿ; sessionid=; =; ;;",
    "HTTP_REFERER": "http://[::1",
    "HTTP_USER_AGENT": "ÿ" * 5000,
}


@pytest.mark.parametrize("path", ["/", "/patients/", "/worklist/", "/api/v1/patients/", "/healthz", "/login/"])
def test_garbage_headers_never_give_a_500(world, token_client, login, path):
    session = login(world.u.nurse)  # the pages (whatever the login flow asks of a session first)
    session.raise_request_exception = False
    for client in (session, token_client(world.u.nurse), Client(raise_request_exception=False)):
        response = client.get(path, **GARBAGE_HEADERS)
        # /healthz says 503 when no Celery worker beats (none runs here); that is its answer, not a fault.
        assert response.status_code < 500 or (path, response.status_code) == ("/healthz", 503), path


def test_a_peer_that_is_no_ip_address_logs_no_address(world, token_client):
    detail, _ = _patient_page(token_client, world, REMOTE_ADDR="unix:/run/gunicorn.sock")
    assert detail.status_code == 200
    assert {e.ip for e in _logged(world)} == {None}


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("192.0.2.1", "203.0.113.9", [], "192.0.2.1"),
        (PROXY, "203.0.113.9", [PROXY], "203.0.113.9"),
        (PROXY, "203.0.113.9, garbage", [PROXY], PROXY),  # our proxy's own hop is unreadable: stop there
        (PROXY, "10.0.0.6, 10.0.0.7", ["10.0.0.0/24"], "10.0.0.6"),  # all ours: the first hop
        ("::ffff:10.0.0.5", "2001:db8::1", [PROXY], "2001:db8::1"),  # an IPv4-mapped peer is the IPv4 proxy
        ("", "203.0.113.9", [PROXY], None),
        ("fe80::1%eth0", "", [], "fe80::1"),  # a link-local peer's zone is no part of an inet value
        (PROXY, "fe80::2%eth1", [PROXY], "fe80::2"),
    ],
)
def test_client_ip(settings, peer, forwarded, trusted, expected):
    settings.DHO_TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_request_id_without_a_trusted_proxy_is_always_new(settings):
    settings.DHO_TRUSTED_PROXIES = []
    request = RequestFactory().get("/", HTTP_X_REQUEST_ID="abc")
    assert request_id(request) != "abc"


def test_a_wrong_trusted_proxy_setting_stops_the_start_with_a_message():
    env = {**os.environ, "DHO_TESTING": "1", "DHO_TRUSTED_PROXIES": "10.0.0.1,lastbalanserer"}
    result = subprocess.run(
        [sys.executable, "-c", "import dho.settings"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "DHO_TRUSTED_PROXIES: «lastbalanserer» er ikke en IP-adresse eller et nett." in result.stderr
