import time

from django.core.cache import cache

from dho.health import HEARTBEAT_KEY, heartbeat_write


def test_it_reports_503_without_a_worker_heartbeat(db, client):
    cache.delete(HEARTBEAT_KEY)
    response = client.get("/healthz")
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


def test_it_reports_a_broken_redis(db, client, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    # Django rebuilds the cache handler when the settings fixture changes CACHES.
    response = client.get("/healthz")
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
