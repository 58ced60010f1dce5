"""Every URL that takes a patient id, for every role, answers 404 outside the user's scope and
writes nothing. A new URL that forgets the scope selector makes this fail.

URLs are found by walking the URL configuration, so nobody has to remember to add them here.
"""

import re
import uuid

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from tenants.models import AuditEvent

PROJECT_APPS = ("tenants", "patients", "ebp", "measurements", "triage", "billing")
METHODS = ("get", "post", "put", "patch", "delete")
SAMPLES = {"int": "1", "str": "x", "slug": "x", "path": "x", "uuid": str(uuid.UUID(int=1))}
CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def _routes(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _routes(entry, prefix + route)
        elif isinstance(entry, URLPattern):
            yield prefix + route


def patient_routes(kwarg: str = "patient_id") -> list[str]:
    routes = []
    for route in _routes():
        assert not route.startswith("^") or "patient" not in route, f"regex route with a patient: {route}"
        if any(name == kwarg for _conv, name in CONVERTER.findall(route)):
            routes.append(route)
    return routes


def _url(route: str, object_id, kwarg: str = "patient_id") -> str:
    def fill(match):
        conv, name = match.group(1) or "str", match.group(2)
        return str(object_id) if name == kwarg else SAMPLES[conv]

    return "/" + CONVERTER.sub(fill, route)


def _methods(url: str) -> list[str]:
    func = resolve(url).func
    view = getattr(func, "view_class", None) or getattr(func, "cls", None)
    if view is None:
        return ["get", "post"]
    return [m for m in METHODS if hasattr(view, m)]


def _row_counts() -> int:
    return sum(
        model.objects.count()
        for model in apps.get_models()
        if model._meta.app_label in PROJECT_APPS and not model._meta.abstract
    )


def test_it_finds_patient_urls_for_pages_and_api():
    routes = patient_routes()
    assert any(r.startswith("patients/") for r in routes), routes
    assert any(r.startswith("api/v1/") for r in routes), routes


# Every uuid in a URL names a patient or an object of one; each kind is walked below.
SCOPED_KWARGS = ("patient_id", "alert_id")


def test_it_rejects_uuid_kwargs_it_does_not_know():
    # An object under another kwarg name would escape this matrix: add it to SCOPED_KWARGS and below.
    for route in _routes():
        for conv, name in CONVERTER.findall(route):
            if conv == "uuid":
                assert name in SCOPED_KWARGS, f"{route}: uuid kwarg {name} is not covered by the isolation matrix"


@pytest.mark.parametrize(
    "role", ["nurse", "nurse_nordrefollo", "nurse_agder", "coordinator", "gp", "specialist", "finance", "admin"]
)
def test_it_answers_404_outside_scope_for_every_patient_url(world, login, role):
    user = getattr(world.u, role)
    client = login(user)
    foreign = [p for key, p in vars(world.p).items() if key not in world.sees[role]]
    assert foreign
    before_rows, before_audit = _row_counts(), AuditEvent.objects.count()
    for route in patient_routes():
        for patient in foreign:
            url = _url(route, patient.pk)
            for method in _methods(url):
                response = getattr(client, method)(url, data={} if method == "get" else None)
                assert response.status_code == 404, f"{role} {method.upper()} {url} → {response.status_code}"
    assert _row_counts() == before_rows, "a refused request wrote something"
    assert AuditEvent.objects.count() == before_audit, "a refused request was logged as an access"


@pytest.mark.parametrize(
    "role", ["nurse", "nurse_nordrefollo", "nurse_agder", "coordinator", "gp", "specialist", "finance", "admin"]
)
def test_it_answers_404_outside_scope_for_every_alert_url(world, login, role):
    from triage.models import Alert

    alerts = {
        key: Alert.objects.create(patient=p, municipality=p.municipality, kind="out_of_range", colour="red", reason="x")
        for key, p in vars(world.p).items()
    }
    client = login(getattr(world.u, role))
    foreign = [a for key, a in alerts.items() if key not in world.sees[role]]
    routes = patient_routes("alert_id")
    assert routes and foreign
    before_rows, before_audit = _row_counts(), AuditEvent.objects.count()
    for route in routes:
        for alert in foreign:
            url = _url(route, alert.pk, "alert_id")
            for method in _methods(url):
                response = getattr(client, method)(url, data={} if method == "get" else None)
                assert response.status_code == 404, f"{role} {method.upper()} {url} → {response.status_code}"
    assert _row_counts() == before_rows, "a refused request wrote something"
    assert AuditEvent.objects.count() == before_audit, "a refused request was logged as an access"
