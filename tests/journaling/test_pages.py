"""What people see of the journal outbox: beside each note on the patient page, its delivery's state
(«Sendt», «Mottatt», «Journalført» with the time, «Feilet» with the reason and the next try or
«Trenger oppfølging»), nothing and «Kopier til journal» where the kommune sends nothing; and the
centre admin's «Journalføring»: the route, its health, the deliveries that wait, failed or stopped
(without the patient's name for an admin who does not see the patient), «Send på nytt», audited."""

import datetime
import re
import uuid

import pytest
from django.utils import timezone

from journaling.models import Delivery, DeliveryState, Route
from journaling.services import CLAIM_LEASE
from tenants.models import AuditEvent
from tenants.norwegian import time_text
from tests.factories import MembershipFactory, UserFactory
from tests.journaling.conftest import bare_delivery, delivery_in, handled_note, routine_contact

OUTCOME = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "invalid", "diagnostics": "Fødselsnummeret er ikke syntetisk",
               "expression": ["Bundle.entry[1].resource.identifier[0].value"]}],
}  # fmt: skip


def _notes_section(response) -> str:
    html = response.content.decode()
    return html.split('id="notes"')[1].split("</section>")[0]


def _state_of(section: str) -> str:
    found = re.search(r'<span class="journal-state"[^>]*>(.*?)</span>\s*(?=<textarea|</li>)', section, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)) if found else ""


# --- the patient page -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "says"),
    [
        ("pending", "Venter på sending"),
        ("sent", "Sendt"),
        ("registered", "Mottatt"),
        ("read", "Mottatt"),
        ("journaled", "Journalført"),
    ],
)
def test_each_note_shows_its_deliverys_state(world, login, gjerdrum_route, state, says):
    note = handled_note(world)
    delivery = delivery_in(Delivery.objects.get(journal_note=note), state)
    section = _notes_section(login(world.u.nurse).get(f"/patients/{world.p.gjerdrum.pk}/"))
    assert f'data-state="{state}"' in section
    assert says in _state_of(section)
    if state == "journaled":
        when = timezone.localtime(delivery.journaled_at).strftime("%d.%m.%Y %H:%M")
        assert when in _state_of(section)
    # The note goes to the journal by itself: no «Kopier til journal» beside it.
    assert "Kopier til journal" not in section


def test_a_failed_delivery_says_why_and_when_it_tries_again(world, login, gjerdrum_route):
    note = handled_note(world)
    next_try = timezone.now() + datetime.timedelta(minutes=4)
    delivery_in(Delivery.objects.get(journal_note=note), "failed", next_try_at=next_try, tries=1,
                last_error="Journalføringstjenesten svarte 503. Prøver igjen 01.01.2099 kl. 10:00.")  # fmt: skip
    text = _state_of(_notes_section(login(world.u.nurse).get(f"/patients/{world.p.gjerdrum.pk}/")))
    assert "Feilet" in text and "Journalføringstjenesten svarte 503." in text
    at = timezone.localtime(next_try)  # in the last minutes before midnight, the next try is tomorrow
    day = "" if at.date() == timezone.localdate() else f"{at:%d.%m.%Y} "
    assert f"prøver igjen {day}kl. {time_text(at)}" in text
    assert "01.01.2099" not in text  # the stored sentence's own next try is not repeated


def test_a_stopped_delivery_says_why_and_that_it_needs_a_person(world, login, gjerdrum_route):
    note = handled_note(world)
    said = "Journalføringstjenesten avviste dokumentet (400): Fødselsnummeret er ikke syntetisk."
    delivery_in(Delivery.objects.get(journal_note=note), "dead", outcome=OUTCOME, last_error=said)
    text = _state_of(_notes_section(login(world.u.nurse).get(f"/patients/{world.p.gjerdrum.pk}/")))
    assert "Feilet" in text and "avviste dokumentet (400)" in text and "Trenger oppfølging" in text


def test_a_kommune_without_a_route_shows_no_state_and_keeps_kopier_til_journal(world, login):
    handled_note(world)
    routine_contact(world)
    assert not Delivery.objects.exists()
    section = _notes_section(login(world.u.nurse).get(f"/patients/{world.p.gjerdrum.pk}/"))
    assert "journal-state" not in section and "Kopier til journal" in section


def test_a_delivered_routine_contact_shows_its_state_in_the_contact_list(world, login, gjerdrum_route):
    contact = routine_contact(world)
    delivery_in(Delivery.objects.get(contact=contact), "journaled")
    section = _notes_section(login(world.u.nurse).get(f"/patients/{world.p.gjerdrum.pk}/"))
    contacts = section.split("<h3>Kontakter</h3>")[1]
    assert 'data-state="journaled"' in contacts and "Journalført" in contacts


def test_the_states_of_all_notes_are_one_query(world, login, gjerdrum_route):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login(world.u.nurse)
    handled_note(world)
    with CaptureQueriesContext(connection) as few:
        client.get(f"/patients/{world.p.gjerdrum.pk}/")
    for _ in range(3):
        handled_note(world)
        routine_contact(world)
    with CaptureQueriesContext(connection) as many:
        client.get(f"/patients/{world.p.gjerdrum.pk}/")
    assert len([q for q in many.captured_queries if "journaling_delivery" in q["sql"]]) == 1
    assert len(many) == len(few)


# --- the centre admin's page ----------------------------------------------------------------------


def test_the_menu_offers_journalforing_to_the_centre_admin_only(world, login):
    assert 'href="/journalforing/"' in login(world.u.admin).get("/billing/prismodell/").content.decode()
    assert 'href="/journalforing/"' not in login(world.u.nurse).get("/worklist/").content.decode()


@pytest.mark.parametrize("who", ["nurse", "coordinator", "gp", "finance"])
def test_anyone_but_the_centre_admin_gets_404(world, login, gjerdrum_route, who):
    client = login(getattr(world.u, who))
    for url in ("/journalforing/", "/journalforing/3230/"):
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"kind": "none"}).status_code in (404, 405), url
    assert Route.objects.get().kind == "jft"


def test_another_centres_kommune_is_a_404(world, login):
    assert login(world.u.admin).get("/journalforing/4202/").status_code == 404  # Grimstad: Agder's


def test_the_overview_lists_the_centres_kommuner_with_their_counts(world, login, gjerdrum_route):
    bare_delivery(world, world.p.gjerdrum, "dead")
    bare_delivery(world, world.p.gjerdrum, "failed")
    response = login(world.u.admin).get("/journalforing/")
    assert response.status_code == 200
    rows = {r["municipality"].number: r for r in response.context["rows"]}
    assert set(rows) == {"3209", "3230", "3238", "3207"}  # Øvre's host and partners, not Agder's
    assert rows["3230"]["counts"] == {"dead": 1, "failed": 1}
    assert world.p.gjerdrum.name not in response.content.decode()


def test_the_kommune_page_lists_pending_failed_and_dead_without_the_name_the_admin_may_not_see(
    world, login, gjerdrum_route
):
    pending = bare_delivery(world, world.p.gjerdrum, "pending")
    failed = bare_delivery(world, world.p.gjerdrum, "failed", tries=2, last_error="Tidsavbrudd.",
                           next_try_at=timezone.now() + datetime.timedelta(minutes=2))  # fmt: skip
    dead = bare_delivery(world, world.p.gjerdrum, "dead", outcome=OUTCOME, last_http_status=400,
                         last_error="Journalføringstjenesten avviste dokumentet (400).")  # fmt: skip
    bare_delivery(world, world.p.gjerdrum, "journaled")  # not a list of the page
    response = login(world.u.admin).get("/journalforing/3230/")
    assert response.status_code == 200
    html = response.content.decode()
    lists = {li["key"]: [row.delivery.pk for row in li["rows"]] for li in response.context["lists"]}
    assert lists == {"pending": [pending.pk], "failed": [failed.pk], "dead": [dead.pk]}
    for delivery in (pending, failed, dead):
        assert str(delivery.bundle_id) in html
    assert world.p.gjerdrum.name not in html and "Ikke i din tilgang" in html
    assert "Bundle.entry[1].resource.identifier[0].value: Fødselsnummeret er ikke syntetisk" in html
    assert html.count(">Send på nytt</button>") == 2  # failed and dead, not pending
    # The route's form, filled from the route.
    assert 'value="312229544"' in html and 'value="https://jft.invalid"' in html
    # One list read: the list's own event and one per delivery shown, under its patient, as admin.
    events = AuditEvent.objects.filter(object_type="journal_deliveries", user=world.u.admin)
    assert events.filter(patient_id__isnull=True, object_id="/journalforing/3230/").count() == 1
    rows = events.filter(patient_id=world.p.gjerdrum.pk)
    assert set(rows.values_list("object_id", flat=True)) == {str(d.pk) for d in (pending, failed, dead)}
    assert set(rows.values_list("role", flat=True)) == {"admin"}


def test_an_admin_who_also_sees_the_patient_sees_the_name(world, login, gjerdrum_route):
    admin_nurse = UserFactory(username="admin_og_sykepleier")
    MembershipFactory(user=admin_nurse, role="admin", centre=world.centres.ovre)
    MembershipFactory(user=admin_nurse, role="nurse", centre=world.centres.ovre)
    bare_delivery(world, world.p.gjerdrum, "dead")
    assert world.p.gjerdrum.name in login(admin_nurse).get("/journalforing/3230/").content.decode()


def test_the_lists_are_pages_of_fifty(world, login, gjerdrum_route):
    for _ in range(51):
        bare_delivery(world, world.p.gjerdrum, "pending")
    client = login(world.u.admin)
    first = client.get("/journalforing/3230/")
    [pending] = [li for li in first.context["lists"] if li["key"] == "pending"]
    assert len(pending["rows"]) == 50 and "Side 1 av 2" in first.content.decode()
    second = client.get("/journalforing/3230/?pending_page=2")
    [pending] = [li for li in second.context["lists"] if li["key"] == "pending"]
    assert len(pending["rows"]) == 1


def test_send_pa_nytt_makes_a_stopped_delivery_pending_and_is_audited(world, login, gjerdrum_route):
    dead = bare_delivery(world, world.p.gjerdrum, "dead", tries=30, last_error="Ga opp etter 30 forsøk.")
    response = login(world.u.admin).post(f"/journalforing/sendinger/{dead.pk}/send-pa-nytt/",
                                          {"next": "/journalforing/3230/?dead_page=1"})  # fmt: skip
    assert response.status_code == 302 and response["Location"] == "/journalforing/3230/?dead_page=1"
    dead.refresh_from_db()
    assert (dead.state, dead.tries, dead.last_error) == (DeliveryState.PENDING, 0, "")
    assert AuditEvent.objects.filter(object_type="journal_delivery", object_id=str(dead.pk), action="update",
                                     user=world.u.admin, patient_id=world.p.gjerdrum.pk).exists()  # fmt: skip


def test_send_pa_nytt_of_a_journaled_delivery_says_why_not(world, login, gjerdrum_route):
    done = bare_delivery(world, world.p.gjerdrum, "journaled")
    client = login(world.u.admin)
    response = client.post(f"/journalforing/sendinger/{done.pk}/send-pa-nytt/", follow=True)
    assert "Bare stoppede eller feilede sendinger kan sendes på nytt." in response.content.decode()
    done.refresh_from_db()
    assert done.state == "journaled"


def test_send_pa_nytt_while_a_retry_is_being_sent_says_so_and_leaves_the_worker_its_claim(world, login, gjerdrum_route):
    claim = uuid.uuid4()
    failed = bare_delivery(world, world.p.gjerdrum, "failed", tries=3, claim=claim, claimed_at=timezone.now())
    client = login(world.u.admin)
    response = client.post(f"/journalforing/sendinger/{failed.pk}/send-pa-nytt/", follow=True)
    assert "Forsendelsen sendes akkurat nå; prøv igjen om litt." in response.content.decode()
    failed.refresh_from_db()
    assert (failed.state, failed.tries, failed.claim) == (DeliveryState.FAILED, 3, claim)
    # A claim older than the lease is a killed worker's: then the resend goes through.
    stale = timezone.now() - CLAIM_LEASE - datetime.timedelta(seconds=1)
    Delivery.objects.filter(pk=failed.pk).update(claimed_at=stale)
    assert client.post(f"/journalforing/sendinger/{failed.pk}/send-pa-nytt/").status_code == 302
    failed.refresh_from_db()
    assert (failed.state, failed.tries, failed.claim) == (DeliveryState.PENDING, 0, None)


@pytest.mark.parametrize(("who", "status"), [("nurse", 403), ("coordinator", 403), ("nurse_agder", 404)])
def test_send_pa_nytt_is_the_admins_a_nurse_gets_403_and_a_stranger_404(world, login, gjerdrum_route, who, status):
    dead = bare_delivery(world, world.p.gjerdrum, "dead")
    response = login(getattr(world.u, who)).post(f"/journalforing/sendinger/{dead.pk}/send-pa-nytt/")
    assert response.status_code == status
    dead.refresh_from_db()
    assert dead.state == "dead"


def test_the_route_form_says_what_is_wrong_and_saves_a_right_one_audited(world, login, gjerdrum_route):
    client = login(world.u.admin)
    wrong = {"kind": "jft", "orgnr": "31222954x", "base_url": "http://jft.example", "client_id": "",
             "key_reference": '{"kty": "EC"}', "scope": "nhn:jft/api"}  # fmt: skip
    response = client.post("/journalforing/3230/", wrong)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Organisasjonsnummeret må ha nøyaktig ni sifre." in html
    assert "aldri selve nøkkelen" in html and "Må fylles ut når notatene sendes." in html
    assert Route.objects.get().orgnr == "312229544"
    right = {**wrong, "orgnr": "312229552", "base_url": "https://jft.example", "client_id": "dho-gjerdrum",
             "key_reference": "HELSEID_GJERDRUM_JWK"}  # fmt: skip
    Route.objects.filter(pk=gjerdrum_route.pk).update(problem="HelseID: ukjent klient")
    response = client.post("/journalforing/3230/", right)
    assert response.status_code == 302
    route = Route.objects.get()
    assert (route.orgnr, route.client_id, route.key_reference, route.problem) == (
        "312229552",
        "dho-gjerdrum",
        "HELSEID_GJERDRUM_JWK",
        "",
    )
    assert AuditEvent.objects.filter(object_type="journal_route", object_id=str(route.pk), user=world.u.admin).exists()


def test_a_vkp_client_is_one_kommunes_and_a_jft_client_every_kommunes(world, login, gjerdrum_route):
    """VKP ties a HelseID client to one system in one kommune (its VKP-id identifies the sender): a VKP
    route may not take a client another kommune's VKP route has — the admin's other kommune (the
    form's check) or another centre's, which the admin cannot see (the database's constraint). A
    kommune's own route saved again keeps its client; JFT's client serves every kommune."""
    from journaling.models import VKP_CLIENT_TAKEN

    Route.objects.create(municipality=world.m.grimstad, kind="vkp", orgnr="312229544", base_url="https://vkp.example",
                         client_id="vkp-grimstad", key_reference="/run/secrets/grimstad.json")  # fmt: skip
    client = login(world.u.admin)
    vkp = {"kind": "vkp", "orgnr": "312229544", "base_url": "https://vkp.example", "client_id": "vkp-grimstad",
           "key_reference": "HELSEID_GJERDRUM_JWK", "scope": "nhn:jft/api"}  # fmt: skip
    response = client.post("/journalforing/3230/", vkp)  # Grimstad is Agder's: outside this admin's scope
    assert response.status_code == 400 and str(VKP_CLIENT_TAKEN) in response.content.decode()
    assert Route.objects.get(pk=gjerdrum_route.pk).kind == "jft"

    own = {**vkp, "client_id": "vkp-gjerdrum"}
    assert client.post("/journalforing/3230/", own).status_code == 302
    assert client.post("/journalforing/3230/", own).status_code == 302, "its own client, saved again"
    assert Route.objects.get(pk=gjerdrum_route.pk).client_id == "vkp-gjerdrum"
    response = client.post("/journalforing/3238/", own)  # Nannestad, the same admin's: the form sees it
    assert response.status_code == 400 and str(VKP_CLIENT_TAKEN) in response.content.decode()
    assert not Route.objects.filter(municipality=world.m.nannestad).exists()

    shared = {**vkp, "kind": "jft", "client_id": "vkp-gjerdrum"}
    assert client.post("/journalforing/3238/", shared).status_code == 302, "a JFT client serves every kommune"


def test_the_health_shows_the_last_success_the_last_error_and_the_routes_problem(world, login, gjerdrum_route):
    delivery_in(bare_delivery(world, world.p.gjerdrum, "sent"), "journaled")
    bare_delivery(world, world.p.gjerdrum, "dead", last_error="Journalføringstjenesten avviste tilgangen (401).")
    Route.objects.filter(pk=gjerdrum_route.pk).update(problem="HelseID: ukjent klient", problem_at=timezone.now())
    response = login(world.u.admin).get("/journalforing/3230/")
    health = response.context["health"]
    assert health.last_success is not None and health.last_journaled is not None
    assert health.last_error == "Journalføringstjenesten avviste tilgangen (401)."
    section = response.content.decode().split('id="health"')[1].split("</section>")[0]
    assert "HelseID: ukjent klient" in section and "avviste tilgangen (401)" in section


def test_a_kommune_with_no_route_says_notes_are_copied_by_hand_and_the_form_sets_none(world, login):
    client = login(world.u.admin)
    html = client.get("/journalforing/3238/").content.decode()
    assert "Kommunen sender ikke journalnotater" in html
    assert client.post("/journalforing/3238/", {"kind": "none", "scope": "nhn:jft/api"}).status_code == 302
    assert Route.objects.get(municipality=world.m.nannestad).kind == "none"
