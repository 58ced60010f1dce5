"""Innsyn i logg as a PDF for the patient, made in the background: «Lag PDF til pasienten» starts a
job (a real Celery worker makes it), its page polls and shows the progress, then a download link; the
PDF is the asking user's only and is kept for a short time. A failed or lost job says so in
Norwegian, with «Prøv igjen»."""

import io
import re
import time
from urllib.parse import parse_qs, urlparse

import pypdf
import pytest
from django.core.cache import cache
from django.utils import timezone

from patients.services import access_log_pdf as service
from patients.tasks import make_access_log_pdf
from tenants.models import AuditEvent
from tests.database_roles import owner_psycopg


def _pdf(patient) -> str:
    return f"/patients/{patient.pk}/innsyn/pdf/"


def _pdf_file(patient) -> str:
    return f"/patients/{patient.pk}/innsyn/pdf/fil/"


def _events(world, patient, n: int) -> None:
    """`n` reads of the record by the Øvre nurse during the last hour, written as the owner (the log is
    append-only and dated by the database; see tests/patients/test_access_log.py, _event_at)."""
    with owner_psycopg() as owner:
        owner.execute("SET LOCAL session_replication_role = replica")
        owner.execute(
            "INSERT INTO tenants_auditevent (at, user_id, username, role, action, object_type, object_id, patient_id,"
            " municipality_id, request_id) SELECT %s - make_interval(secs => i), %s, %s, 'nurse', 'view', 'patient',"
            " %s, %s, %s, '' FROM generate_series(1, %s) AS i",
            [timezone.now(), world.u.nurse.pk, world.u.nurse.username, str(patient.pk), patient.pk,
             patient.municipality_id, n],
        )  # fmt: skip
        owner.commit()


def _start(client, patient, **period) -> tuple[str, str]:
    started = client.post(_pdf(patient), period)
    assert started.status_code == 302
    job_id = parse_qs(urlparse(started.url).query)["jobb"][0]
    return started.url, job_id


def _wait_until_done(client, url, timeout=120.0) -> str:
    """Polls as the page does (htmx) until the job is no longer under way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url, HTTP_HX_REQUEST="true").content.decode()
        if "hx-trigger" not in body:
            return body
        time.sleep(0.5)
    raise AssertionError("the PDF was not made in time")


def test_the_pdf_is_made_by_the_worker_while_the_page_shows_progress(world, celery_worker, login):
    patient = world.p.gjerdrum
    _events(world, patient, 150)
    client = login(world.u.coordinator)
    page = client.get(f"/patients/{patient.pk}/innsyn/").content.decode()
    assert "Lag PDF til pasienten" in page and "Brevet får 150 oppslag." in page
    assert f'action="{_pdf(patient)}"' in page and 'method="post"' in page
    before = AuditEvent.objects.filter(action="export").count()

    url, job_id = _start(client, patient)
    status = client.get(url)
    body = status.content.decode()
    assert status.status_code == 200
    # Under way: what it is doing and on how many rows, a progress bar, and it asks again by itself.
    # 151: the koordinator's own read of the log page just now is in the letter too
    assert "PDF-en … 151 oppslag" in body and "<progress" in body and 'hx-trigger="every 2s"' in body
    assert "htmx" in body  # the page loads htmx
    assert AuditEvent.objects.filter(action="export").count() == before  # nothing left the platform yet

    done = _wait_until_done(client, url)
    assert "PDF-en er klar." in done and "Last ned PDF-en (151 oppslag)" in done
    assert f"{_pdf_file(patient)}?jobb={job_id}" in done
    download = client.get(_pdf_file(patient), {"jobb": job_id})
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    text = " ".join(" ".join(p.extract_text().split()) for p in pypdf.PdfReader(io.BytesIO(download.content)).pages)
    assert (
        patient.name in text and "Sykepleier" in text and text.count("pasientside") == 150 and "innsyn i logg" in text
    )
    [export] = AuditEvent.objects.filter(action="export").order_by("pk")[before:]
    assert (export.user, export.object_type, export.patient_id) == (world.u.coordinator, "access_log", patient.pk)

    # Another nurse or koordinator of the patient, who may see the log, is not given this one's job.
    other = login(world.u.nurse)
    for answer in (other.get(url), other.get(_pdf_file(patient), {"jobb": job_id})):
        assert answer.status_code == 404 and "Fant ikke PDF-en" in answer.content.decode()
    assert AuditEvent.objects.filter(action="export").count() == before + 1


def test_an_unknown_or_expired_job_is_a_norwegian_404(world, login):
    patient = world.p.gjerdrum
    client = login(world.u.coordinator)
    _url, job_id = _start(client, patient)
    assert make_access_log_pdf(job_id) == "ready"
    assert client.get(_pdf_file(patient), {"jobb": job_id}).status_code == 200
    cache.delete_many([service._key(job_id), service._file_key(job_id)])  # its 15 minutes are up
    for url in (_pdf(patient), _pdf_file(patient)):
        for jobb in (job_id, "ukjent"):
            answer = client.get(url, {"jobb": jobb})
            body = answer.content.decode()
            assert answer.status_code == 404 and "Fant ikke PDF-en" in body and "Lag den på nytt" in body
    # Without a job the addresses lead back to the log.
    assert client.get(_pdf(patient))["Location"] == f"/patients/{patient.pk}/innsyn/"


def test_the_job_and_its_pdf_are_kept_for_a_short_time_only(world, login):
    patient = world.p.gjerdrum
    _url, job_id = _start(login(world.u.coordinator), patient)
    make_access_log_pdf(job_id)
    redis = cache._cache.get_client(write=False)  # Django's RedisCache: the redis-py client
    for key in (service._key(job_id), service._file_key(job_id)):
        assert 0 < redis.ttl(cache.make_and_validate_key(key)) <= service.ACCESS_LOG_PDF_TTL == 15 * 60


def test_another_patients_address_does_not_give_the_job(world, login):
    client = login(world.u.coordinator)
    _url, job_id = _start(client, world.p.gjerdrum)
    make_access_log_pdf(job_id)
    assert client.get(_pdf_file(world.p.nannestad), {"jobb": job_id}).status_code == 404


def test_a_failed_job_says_so_and_offers_to_try_again(world, login, monkeypatch):
    patient = world.p.gjerdrum
    client = login(world.u.coordinator)
    url, job_id = _start(client, patient)

    def broken(html):
        raise RuntimeError("weasyprint crashed")

    monkeypatch.setattr(service, "pdf_from_html", broken)
    with pytest.raises(RuntimeError):
        make_access_log_pdf(job_id)
    body = client.get(url).content.decode()
    assert "PDF-en kunne ikke lages." in body and "Prøv igjen" in body and "hx-trigger" not in body
    assert "weasyprint" not in body
    assert client.get(_pdf_file(patient), {"jobb": job_id}).status_code == 404


def test_a_job_no_worker_finished_in_time_is_shown_as_failed(world, login):
    client = login(world.u.coordinator)
    url, job_id = _start(client, world.p.gjerdrum)  # no worker takes it
    job = service._load(job_id)
    job.asked_at = (timezone.now() - timezone.timedelta(minutes=11)).isoformat()
    service._save(job)
    body = client.get(url).content.decode()
    assert "PDF-en kunne ikke lages." in body and "Prøv igjen" in body


def test_the_page_estimates_how_far_the_letter_has_come_from_its_rows_and_time(world, login):
    """weasyprint says nothing while it lays out: the bar and the words estimate it from the rows and
    the time since a worker began, never 100 % before the letter is ready; waiting, the bar just moves."""
    client = login(world.u.coordinator)
    url, job_id = _start(client, world.p.gjerdrum)  # no worker takes it
    waiting = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<progress aria-label" in waiting and "ferdig" not in waiting  # no worker yet: no estimate

    job = service._load(job_id)
    job.rows, job.state = 4000, service.JobState.MAKING  # 4,000 rows: about 140 seconds
    job.started_at = (timezone.now() - timezone.timedelta(seconds=35)).isoformat()
    service._save(job)
    body = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    percent = int(re.search(r'<progress max="100" value="(\d+)"', body).group(1))
    assert 20 <= percent <= 30, percent  # 35 of ~140 s
    assert f"Omtrent {percent} % ferdig, ca. 2 minutter igjen." in body  # ~105 s and "hx-trigger" in body

    job.started_at = (timezone.now() - timezone.timedelta(minutes=5)).isoformat()  # longer than estimated
    service._save(job)
    body = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'value="95"' in body and "Omtrent 95 % ferdig, under ett minutt igjen." in body


def test_one_letter_is_made_at_a_time_and_the_next_waits_without_holding_a_worker(world, login):
    """The worker's processes score readings too: a job that finds another letter being made goes back
    in the queue and returns at once, still «Venter», and is made when its turn comes."""
    client = login(world.u.coordinator)
    _url, job_id = _start(client, world.p.gjerdrum)
    cache.set(service.MAKING_LOCK, "another-job", 60)
    try:
        assert make_access_log_pdf(job_id) == "waiting"
        assert service._load(job_id).state == "waiting" and cache.get(service._file_key(job_id)) is None
        assert cache.get(service.MAKING_LOCK) == "another-job"  # the other's lock is left alone
    finally:
        cache.delete(service.MAKING_LOCK)
    assert make_access_log_pdf(job_id) == "ready"
    assert cache.get(service.MAKING_LOCK) is None  # released after its own letter
    assert client.get(_pdf_file(world.p.gjerdrum), {"jobb": job_id})["Content-Type"] == "application/pdf"
