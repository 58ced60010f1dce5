import time

import pytest
from django.core.cache import cache

from dho.health import HEARTBEAT_KEY, heartbeat_write

MONITOR_TOKEN = "overvaking-hemmelig-1234"


@pytest.fixture
def monitor(settings):
    """The monitoring system's view: DHO_HEALTH_TOKEN configured and sent as X-Health-Token."""
    settings.DHO_HEALTH_TOKEN = MONITOR_TOKEN
    return {"HTTP_X_HEALTH_TOKEN": MONITOR_TOKEN}


def test_it_reports_503_without_a_worker_heartbeat(db, client, monitor):
    cache.delete(HEARTBEAT_KEY)
    response = client.get("/healthz", **monitor)
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["celery"]["ok"] is False


def test_it_reports_200_when_everything_answers(db, client):
    heartbeat_write()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_it_reports_a_broken_redis(db, client, settings, monitor):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    # Django rebuilds the cache handler when the settings fixture changes CACHES.
    response = client.get("/healthz", **monitor)
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False


def test_a_real_worker_makes_it_healthy(celery_worker, client):
    cache.delete(HEARTBEAT_KEY)
    deadline = time.monotonic() + 60
    status = None
    while time.monotonic() < deadline:
        status = client.get("/healthz").status_code
        if status == 200:
            break
        time.sleep(0.5)
    assert status == 200, "no heartbeat from the worker within 60 s"


def test_anyone_else_learns_only_ok_or_not(db, client, settings, monitor):
    """A load balancer needs the status code; which part failed, error names and debug are internals."""
    heartbeat_write()
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/healthz", HTTP_X_HEALTH_TOKEN="gjettet").json() == {"status": "ok"}
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    broken = client.get("/healthz")
    assert broken.status_code == 503
    assert broken.json() == {"status": "feil"}
    assert b"debug" not in broken.content and b"Error" not in broken.content
    assert "no-store" in broken["Cache-Control"]


def test_without_a_configured_token_no_header_unlocks_the_details(db, client, settings):
    settings.DHO_HEALTH_TOKEN = ""
    heartbeat_write()
    assert "checks" not in client.get("/healthz", HTTP_X_HEALTH_TOKEN="").json()


def test_staff_and_the_monitor_see_the_details(world, login, client, monitor):
    heartbeat_write()
    for response in (client.get("/healthz", **monitor), login(world.u.admin).get("/healthz")):
        body = response.json()
        assert body["checks"]["database"] == {"ok": True}
        assert body["debug"] is False
    assert "checks" not in login(world.u.nurse).get("/healthz").json()


def test_a_database_that_does_not_answer_is_a_503_that_says_so(tmp_path):
    # With production settings and PostgreSQL gone (a closed port): the request's scope opened its
    # transaction before the view ran, so /healthz was Django's 500 page, and the monitor learnt
    # nothing of what failed.
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import os, json, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'dho.settings'; django.setup()\n"
        "from django.test import Client\n"
        "r = Client(raise_request_exception=False).get('/healthz', HTTP_X_HEALTH_TOKEN='t', secure=True)\n"
        "print(json.dumps([r.status_code, r.headers['Content-Type'], r.content.decode()]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "DHO_"))}
    env |= {"DHO_DEBUG": "0", "SECRET_KEY": "k" * 60, "ALLOWED_HOSTS": "testserver", "DHO_VAR_DIR": str(tmp_path)}
    env |= {"DATABASE_APP_URL": "postgres://dho_app:x@127.0.0.1:1/dho", "DHO_HEALTH_TOKEN": "t"}
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    status, content_type, body = json.loads(result.stdout.strip().splitlines()[-1])
    assert (status, content_type) == (503, "application/json"), body
    assert json.loads(body)["checks"]["database"] == {"ok": False, "error": "OperationalError"}
