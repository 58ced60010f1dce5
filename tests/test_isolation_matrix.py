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


def patient_routes() -> list[str]:
    routes = []
    for route in _routes():
        assert not route.startswith("^") or "patient" not in route, f"regex route with a patient: {route}"
        if any(name == "patient_id" for _conv, name in CONVERTER.findall(route)):
            routes.append(route)
    return routes


def _url(route: str, patient_id) -> str:
    def fill(match):
        conv, name = match.group(1) or "str", match.group(2)
        return str(patient_id) if name == "patient_id" else SAMPLES[conv]

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


def test_it_rejects_uuid_kwargs_that_are_not_named_patient_id_under_patients():
    # A patient under another kwarg name would escape this matrix.
    for route in _routes():
        for conv, name in CONVERTER.findall(route):
            if conv == "uuid" and name != "patient_id":
                assert "patient" not in name, f"{route}: call the kwarg patient_id"


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
