"""What a browser gets when a page fails: Norwegian, in the platform's layout (lang="nb", the menu
for someone logged in), and never the exception's text or Django's English pages."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from dho.views import HomeView
from tests.conftest import verified_client

ENGLISH = ("Not Found", "Server Error", "Bad Request", "Forbidden", "CSRF", "requested resource", "cookie")


def _norwegian_page(response, heading):
    text = response.content.decode()
    assert '<html lang="nb">' in text
    assert heading in text
    assert 'href="/static/css/dho.css"' in text or "css/dho" in text
    for english in ENGLISH:
        assert english not in text, english
    return text


@pytest.mark.parametrize("where", ["unknown", "outside"])
def test_it_answers_a_missing_page_in_norwegian_in_the_layout(world, login, where):
    client = login(world.u.nurse)
    url = "/finnes-ikke/" if where == "unknown" else reverse("patients:detail", args=[world.p.grimstad.pk])
    response = client.get(url)
    assert response.status_code == 404
    text = _norwegian_page(response, "Fant ikke siden")
    assert "Arbeidsliste" in text  # the menu: the nurse can go on from here
    assert "matches the given query" not in text and "Patient" not in text


def test_it_answers_an_unknown_id_the_same_as_a_patient_outside_the_scope(world, login):
    client = login(world.u.nurse)
    unknown = client.get(reverse("patients:detail", args=[uuid.uuid4()]))
    outside = client.get(reverse("patients:detail", args=[world.p.grimstad.pk]))
    assert unknown.status_code == outside.status_code == 404
    main = [r.content.decode().split("<main", 1)[1].split("</main>")[0] for r in (unknown, outside)]
    assert main[0] == main[1]


def test_it_answers_an_api_address_that_matches_nothing_with_json_still(world, api):
    response = api(world.u.nurse).get("/api/v1/finnes-ikke/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Ikke funnet."}


def test_it_answers_a_bad_request_in_norwegian(db):
    response = Client(HTTP_HOST="ukjent.example").get("/login/")
    assert response.status_code == 400
    _norwegian_page(response, "Ugyldig forespørsel")


def test_it_answers_a_server_error_in_norwegian_without_the_exception(world, login, monkeypatch):
    def broken(self, request, *args, **kwargs):
        raise RuntimeError("hemmelig detalj fra databasen")

    monkeypatch.setattr(HomeView, "get", broken)
    client = verified_client(world.u.nurse, Client(raise_request_exception=False))
    response = client.get("/")
    assert response.status_code == 500
    text = _norwegian_page(response, "Noe gikk galt")
    assert "hemmelig" not in text and "RuntimeError" not in text


def test_it_answers_a_refused_csrf_check_in_norwegian_in_the_layout(world):
    client = verified_client(world.u.nurse, Client(enforce_csrf_checks=True))
    url = reverse("triage:contact-create", args=[world.p.gjerdrum.pk])
    response = client.post(url, {"kind": "routine", "note": "Ringte pasienten"})
    assert response.status_code == 403
    text = _norwegian_page(response, "Skjemaet ble ikke sendt")
    assert "Ingenting er lagret" in text
    assert "Arbeidsliste" in text


def test_it_answers_a_form_address_opened_as_a_page_in_norwegian(world, login):
    client = login(world.u.nurse)
    response = client.get(reverse("triage:contact-create", args=[world.p.gjerdrum.pk]))
    assert response.status_code == 405
    assert "POST" in response["Allow"]
    text = _norwegian_page(response, "Siden kan ikke åpnes slik")
    assert "Arbeidsliste" in text


def test_it_leaves_the_api_405_as_json(world, api):
    response = api(world.u.nurse).delete("/api/v1/auth/tokens/")
    assert response.status_code in (405, 404)
    assert response["Content-Type"].startswith("application/json")
