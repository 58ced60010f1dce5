"""The pages a browser gets for a 400, a 404 and a 500 with production settings (DEBUG off, as in
the tests): Norwegian and in the platform's look, not Django's English fallbacks («Not Found»,
«Server Error (500)»), which it served while templates/ had no 404.html, 500.html or 400.html."""

from django.test import RequestFactory
from django.urls import reverse
from django.views.defaults import bad_request, server_error


def test_an_unknown_address_is_a_norwegian_404_page(db, client):
    response = client.get("/finnes-ikke/")
    assert response.status_code == 404
    page = response.content.decode()
    assert '<html lang="nb">' in page and "Siden finnes ikke" in page
    assert "Not Found" not in page


def test_a_patient_outside_the_users_scope_is_the_same_404_page(world, login):
    response = login(world.u.coordinator).get(reverse("patients:detail", args=[world.p.nannestad.pk]))
    assert response.status_code == 404
    page = response.content.decode()
    assert "Siden finnes ikke" in page and "Not Found" not in page
    assert "Logg ut" in page  # the usual page around it, menu and all


def test_a_server_error_and_a_bad_request_are_norwegian_pages_that_need_no_context(db):
    # Django renders both with no context and no request (the database may be what failed).
    request = RequestFactory().get("/")
    error = server_error(request)
    assert error.status_code == 500
    assert "Noe gikk galt hos oss" in error.content.decode() and "Server Error" not in error.content.decode()
    refused = bad_request(request, exception=None)
    assert refused.status_code == 400
    assert "Forespørselen kunne ikke leses" in refused.content.decode()
    assert "Bad Request" not in refused.content.decode()
