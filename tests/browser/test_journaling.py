"""A handled alert reaches the kommune's EPJ, in the browser: with the stand-ins running (HelseID and
the journaling service, JFT, as real HTTPS servers; the stand-in's EPJ acknowledging at once) and
Gjerdrum's route pointed at the JFT stand-in, a nurse handles an alert on the handle page in Chromium;
the outbox's tasks, run here in this process as a worker would run them, send the document and follow
its receipt; the patient page then says «Journalført» beside the note, and offers no «Kopier til
journal» for it. The page is axe-clean."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from journaling import services, tasks
from journaling.models import Delivery, DeliveryState, Route, RouteKind
from tests.browser.conftest import sign_in
from tests.journaling.test_outbox import ORGNR, Jft, _alert, _until
from triage.models import JournalNote

pytestmark = pytest.mark.browser

NOTE = "Ringte pasienten. Startet reservekur etter planen."


@pytest.fixture
def jft(standins, monkeypatch):
    for name, value in standins.environ().items():
        monkeypatch.setenv(name, value)
    stand_in = Jft(standins)
    stand_in.config(ack_delay=0, epj=True)  # the EPJ fetches and acknowledges at once
    stand_in.faults(0)
    yield stand_in
    stand_in.faults(0)


def test_a_note_handled_in_the_browser_is_journaled_and_the_patient_page_says_so(
    world, browser, live_server, jft, standins, monkeypatch, axe_violations
):
    Route.objects.create(
        municipality=world.m.gjerdrum, kind=RouteKind.JFT, orgnr=ORGNR, base_url=standins.jft_base_url,
        client_id=standins.client.client_id, key_reference=str(standins.client.key_file),
    )  # fmt: skip
    queued = []
    # No broker worker here: what the handling queues after its commit is sent by the task below.
    monkeypatch.setattr(services, "_queue", queued.append)
    alert = _alert(world)

    page = browser.new_context(base_url=live_server.url, locale="nb-NO").new_page()
    page.set_default_timeout(10_000)
    sign_in(page, world.u.nurse)
    page.goto(f"/worklist/alerts/{alert.pk}/handle/")
    page.get_by_label("Ringte pasienten – fikk svar").check()
    page.get_by_label("Ga råd etter egenbehandlingsplanen").check()
    page.get_by_label("Notat").fill(NOTE)
    page.get_by_role("button", name="Lagre oppfølging").click()
    page.wait_for_url(lambda url: "/handle/" not in url)

    note = JournalNote.objects.get(alert=alert)
    delivery = Delivery.objects.get(journal_note=note)
    assert queued == [delivery.pk], "the send is queued after the handling's commit"

    # The worker's steps: the send (202 from the stand-in), then the receipt until the EPJ journaled it.
    assert tasks.send_delivery(delivery.pk) == DeliveryState.SENT

    def journaled():
        Delivery.objects.filter(pk=delivery.pk).update(polled_at=None)  # due for the poll sweep now
        tasks.poll_sent()
        return Delivery.objects.get(pk=delivery.pk).state == DeliveryState.JOURNALED

    assert _until(journaled), Delivery.objects.get(pk=delivery.pk).state
    delivery.refresh_from_db()
    [event] = jft.events(f"urn:uuid:{delivery.bundle_id}")
    assert event["status"] == "journaled"

    page.goto(f"/patients/{world.p.gjerdrum.pk}/#notes")
    notes = page.locator("section[aria-labelledby='notes']")
    state = notes.locator(f".journal-state[data-state='{DeliveryState.JOURNALED}']")
    expect(state).to_contain_text("Journalført")
    expect(state).to_contain_text(timezone.localtime(delivery.journaled_at).strftime("%d.%m.%Y %H:%M"))
    expect(page.locator(f"#note-{note.pk}")).to_have_value(note.text)
    expect(notes.get_by_role("button", name="Kopier til journal")).to_have_count(0)
    assert axe_violations(page) == []
