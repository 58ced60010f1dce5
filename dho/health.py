"""GET /healthz: database, Redis and a live Celery worker, for load balancers and monitoring.

Anyone gets {"status": "ok"} (200) or {"status": "feil"} (503); which part failed, error class names
and the debug flag only go to staff and to a monitor sending DHO_HEALTH_TOKEN as X-Health-Token.
"""

import hmac
import time

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse

HEARTBEAT_KEY = "dho:celery:heartbeat"
HEARTBEAT_MAX_AGE = 60  # seconds; the worker writes every 10 s, beat's task every 15 s


def heartbeat_write() -> None:
    cache.set(HEARTBEAT_KEY, time.time(), timeout=HEARTBEAT_MAX_AGE)


@shared_task(name="dho.heartbeat", ignore_result=True)
def heartbeat() -> None:
    heartbeat_write()


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True}


def _redis() -> dict:
    cache.set("dho:healthz", "1", timeout=10)
    return {"ok": cache.get("dho:healthz") == "1"}


def _celery() -> dict:
    beat = cache.get(HEARTBEAT_KEY)
    if beat is None:
        return {"ok": False, "error": "ingen hjerteslag fra Celery-worker"}
    age = time.time() - float(beat)
    return {"ok": age < HEARTBEAT_MAX_AGE, "seconds_since_heartbeat": round(age, 1)}


def _check(fn) -> dict:
    try:
        return fn()
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}


def _may_see_details(request) -> bool:
    """Staff or the monitoring token; a load balancer or a stranger learns only ok / feil."""
    token = settings.DHO_HEALTH_TOKEN
    sent = request.headers.get("X-Health-Token", "")
    if token and sent and hmac.compare_digest(sent.encode(), token.encode()):
        return True
    try:
        return request.user.is_staff
    except Exception:  # a session cookie with the database down: still answer, as anonymous
        return False


def healthz(request):
    checks = {"database": _check(_database), "redis": _check(_redis), "celery": _check(_celery)}
    healthy = all(c["ok"] for c in checks.values())
    body = {"status": "ok" if healthy else "feil"}
    if _may_see_details(request):
        body |= {"checks": checks, "debug": settings.DEBUG}
    response = JsonResponse(body, status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response
