"""The forløp pages: the board (the koordinator's landing page), the henvisning and each step before
oppstart as a form, with its errors next to the field and the service's refusal above the form."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from patients.models import (
    ASSESSMENT_CRITERIA,
    Appeal,
    Assessment,
    Consent,
    Decision,
    Device,
    Referral,
    StatusChange,
)
from patients.selectors import loans_out_for
from patients.services import (
    assessment_record,
    decision_record,
    device_register,
    devices_lend,
    evaluation_next_set,
    patient_start,
    referral_register,
)
from tenants.models import AuditEvent
from tests.factories import synthetic_national_id

TODAY = timezone.localdate


def _referral(world, *, user=None, municipality=None, name="Kari Nordmann", **extra):
    return referral_register(
        user=user or world.u.coordinator, municipality=municipality or world.m.gjerdrum,
        national_id=synthetic_national_id(), name=name, referrer="hospital", reason="Hyppige innleggelser.", **extra,
    )  # fmt: skip


def _criteria():
    return {code: {"answer": "yes", "comment": ""} for code in ASSESSMENT_CRITERIA}


def _assessed(world, **extra):
    referral = _referral(world, **extra)
    assessment_record(referral=referral, user=world.u.coordinator, criteria=_criteria())
    return referral


def _granted(world, **extra):
    referral = _assessed(world, **extra)
    today = TODAY()
    decision_record(
        referral=referral, user=world.u.coordinator, outcome="granted", reason="Oppfyller kriteriene.",
        period_to=today + datetime.timedelta(days=180), evaluation_date=today + datetime.timedelta(days=90),
    )  # fmt: skip
    referral.refresh_from_db()
    return referral


def _text(response) -> str:
    return response.content.decode()


# --- the board --------------------------------------------------------------------------------------


def test_it_sends_the_koordinator_home_to_the_board(world, login):
    assert login(world.u.coordinator).get("/")["Location"] == "/forlop/"


def test_it_shows_each_stage_with_count_and_what_it_waits_for(world, login):
    _referral(world, name="Mottatt Person")
    _assessed(world, name="Vurdert Person")
    _granted(world, name="Innvilget Person")
    response = login(world.u.coordinator).get("/forlop/")
    assert response.status_code == 200
    body = _text(response)
    for text in ("Mottatt Person", "Vurdert Person", "Innvilget Person", "Rune Gjerdrum"):
        assert text in body
    assert "Venter på vurdering" in body and "Venter på vedtak" in body and "Venter på samtykke" in body
    sections = {s.key: s for s in response.context["sections"]}
    assert [r.name for r in sections["received"].rows] == ["Mottatt Person"]
    assert [r.name for r in sections["assessed"].rows] == ["Vurdert Person"]
    assert [r.name for r in sections["granted"].rows] == ["Innvilget Person"]
    assert [r.name for r in sections["active"].rows] == ["Rune Gjerdrum"]
    assert sections["received"].count == 1


def test_it_says_a_consented_grant_waits_for_oppstart(world, login):
    referral = _granted(world, name="Samtykket Person")
    Consent.objects.create(patient=referral.patient, municipality=world.m.gjerdrum, given_by="patient",
                           method="written", given_on=TODAY(), recorded_by=world.u.coordinator)  # fmt: skip
    sections = {s.key: s for s in login(world.u.coordinator).get("/forlop/").context["sections"]}
    assert [r.waiting for r in sections["granted"].rows] == ["Venter på oppstart"]


def test_it_lists_a_refusal_among_the_ended_and_an_evaluation_due(world, login):
    referral = _assessed(world, name="Avslått Person")
    decision_record(referral=referral, user=world.u.coordinator, outcome="refused", reason="Ikke motivert.")
    granted = _granted(world, name="Evalueres Snart")
    Decision.objects.filter(referral=granted).update(evaluation_date=TODAY())
    StatusChange.objects.create(patient=granted.patient, referral=granted, municipality=world.m.gjerdrum,
                                event="started", effective_date=TODAY(), by=world.u.coordinator)  # fmt: skip
    granted.patient.status = "active"
    granted.patient.save(update_fields=["status"])
    Referral.objects.filter(pk=granted.pk).update(status="started")  # what oppstart will write
    sections = {s.key: s for s in login(world.u.coordinator).get("/forlop/").context["sections"]}
    assert [r.name for r in sections["ended"].rows] == ["Avslått Person"]
    assert [r.name for r in sections["due"].rows] == ["Evalueres Snart"]


def test_it_shows_a_centre_nurse_every_municipality_with_a_filter(world, login):
    _referral(world, name="Gjerdrum Kandidat")
    _referral(world, user=world.u.nurse, municipality=world.m.nannestad, name="Nannestad Kandidat")
    client = login(world.u.nurse)
    body = _text(client.get("/forlop/"))
    assert "Gjerdrum Kandidat" in body and "Nannestad Kandidat" in body
    filtered = _text(client.get("/forlop/?municipality=3238"))
    assert "Nannestad Kandidat" in filtered and "Gjerdrum Kandidat" not in filtered


def test_it_shows_the_board_to_no_one_outside_and_audits_who_it_shows(world, login):
    _referral(world, name="Gjerdrum Kandidat")
    for role in ("gp", "specialist", "finance", "admin"):
        assert login(getattr(world.u, role)).get("/forlop/").status_code == 404, role
        assert login(getattr(world.u, role)).get("/forlop/ny/").status_code == 404, role
    assert "Gjerdrum Kandidat" not in _text(login(world.u.nurse_agder).get("/forlop/"))
    before = AuditEvent.objects.count()
    login(world.u.coordinator).get("/forlop/")
    logged = AuditEvent.objects.filter(pk__gt=0).order_by("-pk")[: AuditEvent.objects.count() - before]
    assert {e.object_type for e in logged} == {"forlop_board"}
    assert str(world.p.gjerdrum.pk) in {e.object_id for e in logged}


# --- henvisning -------------------------------------------------------------------------------------


def _referral_post(**override) -> dict:
    return {
        "municipality": "", "national_id": synthetic_national_id(), "name": "Kari Nordmann", "referrer": "gp",
        "referrer_name": "Dr. Hansen", "diagnoses": ["kols"], "reason": "Hyppige innleggelser.",
        "phone": "40000000", "next_of_kin": "", "received_on": "", **override,
    }  # fmt: skip


def test_it_registers_a_henvisning_and_redirects_to_it(world, login):
    client = login(world.u.coordinator)
    assert client.get("/forlop/ny/").status_code == 200
    response = client.post("/forlop/ny/", _referral_post(municipality=world.m.gjerdrum.pk))
    referral = Referral.objects.get(name="Kari Nordmann")
    assert response.status_code == 302 and response["Location"] == f"/forlop/{referral.pk}/"
    assert referral.status == "received" and referral.diagnoses == ["kols"]
    page = _text(client.get(response["Location"]))
    assert "Henvisning mottatt" in page and "Registrer vurdering" in page


def test_it_puts_each_henvisning_error_next_to_its_field(world, login):
    response = login(world.u.coordinator).post(
        "/forlop/ny/", _referral_post(municipality=world.m.gjerdrum.pk, national_id="123", name="", reason="")
    )
    assert response.status_code == 200 and not Referral.objects.exists()
    body = _text(response)
    assert 'id="id_national_id_error">Fødselsnummeret må ha 11 siffer.' in body
    assert 'id="id_name_error">Fyll ut pasientens navn.' in body
    assert 'id="id_reason_error">Skriv hvorfor pasienten henvises.' in body
    assert 'aria-invalid="true"' in body


def test_it_offers_a_koordinator_only_their_own_municipality(world, login):
    response = login(world.u.coordinator).post("/forlop/ny/", _referral_post(municipality=world.m.nannestad.pk))
    assert response.status_code == 200 and not Referral.objects.exists()
    assert "Velg en kommune fra listen." in _text(response)


def test_it_shows_the_services_refusal_above_the_form(world, login):
    national_id = synthetic_national_id()
    client = login(world.u.coordinator)
    client.post("/forlop/ny/", _referral_post(municipality=world.m.gjerdrum.pk, national_id=national_id))
    response = client.post("/forlop/ny/", _referral_post(municipality=world.m.gjerdrum.pk, national_id=national_id))
    assert response.status_code == 200
    assert "Personen har allerede en åpen henvisning i Gjerdrum." in _text(response)
    assert Referral.objects.count() == 1


# --- the steps ----------------------------------------------------------------------------------------


def test_it_opens_a_referral_only_to_its_municipalitys_nurses_and_koordinator(world, login):
    referral = _referral(world)
    for role, expected in {"coordinator": 200, "nurse": 200, "nurse_agder": 404, "nurse_nordrefollo": 404,
                           "gp": 404, "finance": 404}.items():  # fmt: skip
        for step in ("", "vurdering/", "vedtak/", "klage/", "klage/utfall/"):
            url = f"/forlop/{referral.pk}/{step}"
            assert login(getattr(world.u, role)).get(url).status_code == expected, f"{role} {url}"


def test_it_records_the_vurdering_from_the_radio_groups(world, login):
    referral = _referral(world)
    client = login(world.u.coordinator)
    page = _text(client.get(f"/forlop/{referral.pk}/vurdering/"))
    assert page.count('type="radio"') == 3 * len(ASSESSMENT_CRITERIA) and "Hva er viktig for deg?" in page
    data = dict.fromkeys(ASSESSMENT_CRITERIA, "yes") | {"coverage": "unknown", "coverage_comment": "Sjekkes"}
    response = client.post(f"/forlop/{referral.pk}/vurdering/", data | {"what_matters": "Gå tur med hunden"})
    assert response.status_code == 302
    assessment = Assessment.objects.get(referral=referral)
    assert assessment.criteria["coverage"] == {"answer": "unknown", "comment": "Sjekkes"}
    assert assessment.what_matters == "Gå tur med hunden"
    referral.refresh_from_db()
    assert referral.status == "assessed"


def test_two_clicks_on_registrer_vurdering_record_one_vurdering(world, login):
    """The same vurdering sent twice within minutes is one: the second is told when and by whom it was
    recorded, above the form; one vurdering, one «Vurdert» row. A changed answer is a new vurdering."""
    referral = _referral(world)
    client = login(world.u.coordinator)
    url = f"/forlop/{referral.pk}/vurdering/"
    data = dict.fromkeys(ASSESSMENT_CRITERIA, "yes") | {"what_matters": "Gå tur med hunden"}
    assert client.post(url, data).status_code == 302
    again = client.post(url, data)
    assert again.status_code == 200
    assert f"Denne vurderingen ble registrert {timezone.localtime():%d.%m.%Y} kl." in _text(again)
    assert "Den er ikke registrert på nytt." in _text(again)
    assessed = StatusChange.objects.filter(referral=referral, event="assessed")
    assert Assessment.objects.filter(referral=referral).count() == 1 and assessed.count() == 1
    assert client.post(url, data | {"coverage": "unknown"}).status_code == 302
    assert Assessment.objects.filter(referral=referral).count() == 2


def test_it_says_which_criterion_has_no_answer(world, login):
    referral = _referral(world)
    data = {code: "yes" for code in ASSESSMENT_CRITERIA if code != "motivated"}
    response = login(world.u.coordinator).post(f"/forlop/{referral.pk}/vurdering/", data)
    assert response.status_code == 200 and not Assessment.objects.exists()
    assert 'id="id_motivated_error">Svar ja, nei eller vet ikke.' in _text(response)


def test_it_grants_and_links_the_vedtaksbrev(world, login):
    referral = _assessed(world)
    client = login(world.u.coordinator)
    today = TODAY()
    fields = {
        "outcome": "granted", "reason": "Oppfyller kriteriene.", "period_from": "",
        "period_to": (today + datetime.timedelta(days=180)).isoformat(),
        "evaluation_date": (today + datetime.timedelta(days=90)).strftime("%d.%m.%Y"),
    }  # fmt: skip
    preview = client.post(f"/forlop/{referral.pk}/vedtak/", fields)  # the letter first, nothing recorded
    assert preview.status_code == 200 and "Hjemmel" in _text(preview) and not Decision.objects.exists()
    response = client.post(f"/forlop/{referral.pk}/vedtak/", {**fields, "confirm": "1"})
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.status == "granted" and referral.patient is not None
    page = _text(client.get(f"/forlop/{referral.pk}/"))
    assert f"/patients/referrals/{referral.pk}/vedtak.pdf" in page and "Registrer samtykke" in page


def test_it_asks_a_grant_for_its_period_next_to_the_fields(world, login):
    referral = _assessed(world)
    response = login(world.u.coordinator).post(f"/forlop/{referral.pk}/vedtak/", {"outcome": "granted", "reason": ""})
    body = _text(response)
    assert response.status_code == 200 and not Decision.objects.exists()
    assert 'id="id_reason_error">Vedtaket må ha en begrunnelse.' in body
    assert 'id="id_period_to_error">Et innvilget vedtak må ha en til-dato.' in body
    assert 'id="id_evaluation_date_error">Et innvilget vedtak må ha en evalueringsdato.' in body


def test_it_shows_the_refusal_of_a_vedtak_out_of_order(world, login):
    referral = _referral(world)  # not assessed yet
    response = login(world.u.coordinator).post(
        f"/forlop/{referral.pk}/vedtak/", {"outcome": "refused", "reason": "Ikke aktuelt."}
    )
    assert response.status_code == 200 and not Decision.objects.exists()
    assert "Henvisningen må vurderes før det kan fattes vedtak." in _text(response)


def test_it_registers_a_klage_and_its_outcome(world, login):
    referral = _assessed(world)
    decision_record(referral=referral, user=world.u.coordinator, outcome="refused", reason="Ikke motivert.")
    client = login(world.u.coordinator)
    bad = client.post(f"/forlop/{referral.pk}/klage/", {"received_on": "31.02.2026"})
    assert 'id="id_received_on_error">Skriv datoen som dd.mm.åååå.' in _text(bad)
    assert client.post(f"/forlop/{referral.pk}/klage/", {"received_on": TODAY().isoformat()}).status_code == 302
    again = client.post(f"/forlop/{referral.pk}/klage/", {"received_on": TODAY().isoformat()})
    assert "Det er allerede en klage til behandling på dette vedtaket." in _text(again)
    missing = client.post(f"/forlop/{referral.pk}/klage/utfall/", {})
    assert 'id="id_outcome_error">Velg om vedtaket er opprettholdt eller omgjort.' in _text(missing)
    assert client.post(f"/forlop/{referral.pk}/klage/utfall/", {"outcome": "upheld"}).status_code == 302
    assert Appeal.objects.get().outcome == "upheld"


def test_it_records_samtykke_on_the_patient(world, login):
    referral = _granted(world)
    client = login(world.u.coordinator)
    url = f"/patients/{referral.patient.pk}/samtykke/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"given_by": "representative", "representative_name": "", "method": "",
                                 "given_on": ""})  # fmt: skip
    body = _text(response)
    assert 'id="id_representative_name_error">Oppgi representantens navn.' in body
    assert 'id="id_method_error">Velg skriftlig eller muntlig.' in body
    assert 'id="id_given_on_error">Dette feltet må fylles ut.' in body
    assert not Consent.objects.exists()
    response = client.post(url, {"given_by": "patient", "method": "written", "given_on": TODAY().isoformat()})
    assert response.status_code == 302 and response["Location"] == f"/patients/{referral.patient.pk}/"
    assert Consent.objects.get().referral == referral


def test_two_clicks_on_registrer_samtykke_record_one_samtykke(world, login):
    """The same samtykke sent twice (two clicks, the form sent again) is one: the second is told it is
    there already, above the form. Another form or day is a samtykke of its own."""
    referral = _granted(world)
    client = login(world.u.coordinator)
    url = f"/patients/{referral.patient.pk}/samtykke/"
    given = {"given_by": "representative", "representative_name": "Ola Nordmann", "representative_role": "sønn",
             "method": "verbal", "given_on": TODAY().isoformat()}  # fmt: skip
    assert client.post(url, given).status_code == 302
    again = client.post(url, {**given, "representative_name": "ola nordmann "})
    assert again.status_code == 200
    assert (f"Samtykket er allerede registrert: muntlig, gitt av representanten Ola Nordmann (sønn) "
            f"{TODAY():%d.%m.%Y}, registrert {timezone.localtime():%d.%m.%Y} kl.") in _text(again)  # fmt: skip
    assert "Det er ikke registrert på nytt." in _text(again)
    assert Consent.objects.filter(patient=referral.patient).count() == 1
    assert client.post(url, {**given, "method": "written"}).status_code == 302  # the written one, later
    assert Consent.objects.filter(patient=referral.patient).count() == 2


def test_a_samtykke_sent_while_the_same_is_being_stored_waits_for_it(world):
    """The second of two simultaneous submits waits for the first (the patient's row, locked before the
    check) and then sees it; here it gives up after a second, with nothing stored. Without the lock it
    stored a second samtykke beside the first, not yet committed."""
    from patients.services import ReferralRefused, consent_record
    from tests.concurrency import WAITED, at_the_same_moment

    patient = world.p.gjerdrum  # committed: the second click's connection sees it
    given = {"patient": patient, "user": world.u.coordinator, "given_by": "patient", "method": "written",
             "given_on": TODAY()}  # fmt: skip
    consent_record(**given)  # the first click: stored, not yet committed

    def second_click() -> str:
        try:
            consent_record(**given)
        except ReferralRefused as exc:
            return str(exc)
        return "registered"

    assert at_the_same_moment([world.m.gjerdrum.pk], second_click) == WAITED
    assert Consent.objects.filter(patient=patient).count() == 1


def test_it_refuses_samtykke_to_the_fastlege_and_hides_it_outside(world, login):
    url = f"/patients/{world.p.gjerdrum.pk}/samtykke/"
    assert login(world.u.gp).get(url).status_code == 403
    assert login(world.u.gp).post(url, {"given_by": "patient"}).status_code == 403
    assert login(world.u.nurse_agder).get(url).status_code == 404
    assert not Consent.objects.exists()


@pytest.mark.parametrize("step", ["", "vurdering/", "vedtak/"])
def test_it_audits_opening_a_referral_page(world, login, step):
    referral = _referral(world)
    before = AuditEvent.objects.filter(object_type="referral", action="view").count()
    login(world.u.coordinator).get(f"/forlop/{referral.pk}/{step}")
    assert AuditEvent.objects.filter(object_type="referral", action="view").count() == before + 1


# --- oppstart, pause, gjenopptak, avslutning ------------------------------------------------------------


def _consented(world):
    referral = _granted(world)
    Consent.objects.create(patient=referral.patient, municipality=world.m.gjerdrum, given_by="patient",
                           method="written", given_on=TODAY(), recorded_by=world.u.coordinator)  # fmt: skip
    return referral


def test_it_refuses_oppstart_without_samtykke_with_the_services_message(world, login):
    referral = _granted(world)
    response = login(world.u.coordinator).post(f"/patients/{referral.patient.pk}/oppstart/", {"own_phone": "on"})
    assert response.status_code == 200
    assert "Samtykke er ikke registrert; registrer pasientens samtykke før oppstart." in _text(response)
    assert not StatusChange.objects.filter(patient=referral.patient, event="started").exists()


def test_it_starts_a_consented_patient_with_a_lent_tablet(world, login):
    referral = _consented(world)
    device_register(centre=world.centres.ovre, user=world.u.nurse, type="nettbrett", serial="NB-1")
    client = login(world.u.nurse)
    url = f"/patients/{referral.patient.pk}/oppstart/"
    assert client.get(url).status_code == 200
    bad = client.post(url, {"devices": "NB-1", "trial_until": "i morgen"})
    assert 'id="id_trial_until_error">Skriv datoen som dd.mm.åååå.' in _text(bad)
    response = client.post(url, {"devices": "NB-1", "training": "Vist målingene."})
    assert response.status_code == 302 and response["Location"] == f"/patients/{referral.patient.pk}/"
    referral.patient.refresh_from_db()
    assert referral.patient.status == "active"
    assert [loan.device.serial for loan in loans_out_for(referral.patient)] == ["NB-1"]


def test_it_pauses_resumes_and_ends_from_the_patient_page(world, login):
    patient = world.p.gjerdrum
    client = login(world.u.coordinator)
    page = _text(client.get(f"/patients/{patient.pk}/"))
    assert f"/patients/{patient.pk}/pause/" in page and f"/patients/{patient.pk}/avslutt/" in page
    missing = client.post(f"/patients/{patient.pk}/pause/", {})
    assert 'id="id_until_error">Dette feltet må fylles ut.' in _text(missing)
    until = (TODAY() + datetime.timedelta(days=7)).isoformat()
    assert client.post(f"/patients/{patient.pk}/pause/", {"until": until, "note": "Innlagt"}).status_code == 302
    patient.refresh_from_db()
    assert patient.status == "paused"
    refused = client.post(f"/patients/{patient.pk}/pause/", {"until": until})
    assert "«Pause» er ikke mulig når pasienten har status «pause»." in _text(refused)
    assert client.post(f"/patients/{patient.pk}/gjenoppta/", {}).status_code == 302
    no_reason = client.post(f"/patients/{patient.pk}/avslutt/", {})
    assert 'id="id_reason_error">Velg en årsak til avslutningen.' in _text(no_reason)
    assert client.post(f"/patients/{patient.pk}/avslutt/", {"reason": "no_benefit"}).status_code == 200  # confirm
    patient.refresh_from_db()
    assert patient.status != "ended"
    assert client.post(f"/patients/{patient.pk}/avslutt/", {"reason": "no_benefit", "confirm": "1"}).status_code == 302
    patient.refresh_from_db()
    assert patient.status == "ended"


def test_it_leaves_the_forlop_steps_to_the_patients_nurses_and_koordinator(world, login):
    patient = world.p.gjerdrum
    for step in ("oppstart/", "pause/", "gjenoppta/", "avslutt/"):
        url = f"/patients/{patient.pk}/{step}"
        assert login(world.u.gp).get(url).status_code == 403, url
        assert login(world.u.gp).post(url, {"reason": "other"}).status_code == 403, url
        assert login(world.u.nurse_agder).get(url).status_code == 404, url
    assert not StatusChange.objects.filter(patient=patient).exists()


# --- the centre's equipment ---------------------------------------------------------------------------


def test_it_shows_the_register_with_what_is_out_and_with_whom(world, login):
    device_register(centre=world.centres.ovre, user=world.u.nurse, type="nettbrett", serial="NB-1")
    device_register(centre=world.centres.ovre, user=world.u.nurse, type="vekt", serial="V-1")
    devices_lend(patient=world.p.gjerdrum, user=world.u.nurse, serials=["NB-1"])
    devices_lend(patient=world.p.nordrefollo, user=world.u.nurse_nordrefollo, serials=["V-1"])
    response = login(world.u.nurse).get("/utstyr/")
    body = _text(response)
    assert response.status_code == 200 and "NB-1" in body and "V-1" in body
    assert "Rune Gjerdrum" in body  # in the nurse's scope
    assert "Vigdis Nordre Follo" not in body and "en pasient i Nordre Follo" in body  # lent by the kommune
    assert AuditEvent.objects.filter(object_type="device_list", patient_id=world.p.gjerdrum.pk).exists()
    lent = _text(login(world.u.nurse).get("/utstyr/?state=lent"))
    stock = _text(login(world.u.nurse).get("/utstyr/?state=in_stock"))
    assert "NB-1" in lent and "NB-1" not in stock


def test_it_keeps_the_register_from_who_keeps_none(world, login):
    for role in ("coordinator", "nurse_nordrefollo", "gp", "specialist", "finance"):
        assert login(getattr(world.u, role)).get("/utstyr/").status_code == 404, role
    device_register(centre=world.centres.ovre, user=world.u.nurse, type="vekt", serial="V-1")
    assert "V-1" not in _text(login(world.u.nurse_agder).get("/utstyr/"))
    assert login(world.u.nurse_agder).post("/utstyr/V-1/retur/").status_code == 404


def test_it_registers_a_device_with_errors_next_to_the_field(world, login):
    client = login(world.u.nurse)
    missing = client.post("/utstyr/", {"device-centre": world.centres.ovre.pk, "device-type": "vekt"})
    assert 'id="id_device-serial_error">Fyll ut serienummeret.' in _text(missing)
    data = {"device-centre": world.centres.ovre.pk, "device-type": "vekt", "device-serial": "V-9"}
    assert client.post("/utstyr/", data).status_code == 302
    again = client.post("/utstyr/", data)
    assert "Serienummeret «V-9» finnes allerede i registeret til Øvre." in _text(again)


def test_it_imports_a_csv_with_a_result_per_line(world, login):
    csv = "type,model,serial\nvekt,A&D,V-1\nbrødrister,x,B-1\n"
    response = login(world.u.nurse).post(
        "/utstyr/import/", {"import-centre": world.centres.ovre.pk, "import-text": csv}
    )
    body = _text(response)
    assert response.status_code == 200 and "Registrert" in body and "ukjent enhetstype «brødrister»" in body
    missing = login(world.u.nurse).post("/utstyr/import/", {"import-centre": world.centres.ovre.pk})
    assert 'id="id_import-file_error">Velg en CSV-fil, eller lim inn linjene.' in _text(missing)


def test_it_refuses_an_uploaded_csv_with_a_nul_character_saying_on_which_line(world, login):
    upload = SimpleUploadedFile("utstyr.csv", b"type,model,serial\nvekt,Seca,V-1\nvekt,Se\x00ca,V-2\n")
    response = login(world.u.nurse).post(
        "/utstyr/import/", {"import-centre": world.centres.ovre.pk, "import-file": upload}
    )
    assert response.status_code == 200
    assert "Linje 3 inneholder et NUL-tegn (\\u0000), som ikke kan lagres." in _text(response)
    assert not Device.objects.filter(serial__in=["V-1", "V-2"]).exists()


def test_it_imports_lines_copied_from_excel_cells_and_pasted_tab_separated(world, login):
    pasted = "type\tmodel\tserial\r\nvekt\tSeca 803\tV-7\r\npulsoksymeter\tNonin, 3230\tOX-7\r\n"
    response = login(world.u.nurse).post(
        "/utstyr/import/", {"import-centre": world.centres.ovre.pk, "import-text": pasted}
    )
    assert response.status_code == 200 and "Registrert" in _text(response)
    stored = dict(Device.objects.filter(serial__in=["V-7", "OX-7"]).values_list("serial", "model"))
    assert stored == {"V-7": "Seca 803", "OX-7": "Nonin, 3230"}


def test_it_reads_an_uploaded_csv_saved_by_excel_on_windows_as_the_api_does(world, login):
    upload = SimpleUploadedFile("utstyr.csv", "type;model;serial\r\nBlodtrykksmåler;Omron M7;BP-1\r\n".encode("cp1252"))
    response = login(world.u.nurse).post(
        "/utstyr/import/", {"import-centre": world.centres.ovre.pk, "import-file": upload}
    )
    assert response.status_code == 200 and "Registrert" in _text(response)
    assert Device.objects.get(serial="BP-1").type == "blodtrykk"


def test_it_refuses_an_uploaded_csv_larger_than_the_api_takes_before_reading_it(world, login, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    rows = "".join(f"vekt,Seca,V-{n}\n" for n in range(77_000))  # some 1.3 MB
    upload = SimpleUploadedFile("utstyr.csv", ("type,model,serial\n" + rows).encode())
    response = login(world.u.nurse).post(
        "/utstyr/import/", {"import-centre": world.centres.ovre.pk, "import-file": upload}
    )
    assert response.status_code == 200 and response.context["results"] is None
    assert "Filen er for stor (1,3 MB): høyst 1,0 MB. Del den i flere filer." in _text(response)
    assert not Device.objects.filter(serial="V-1").exists()


def test_it_takes_a_device_back_and_cleans_it(world, login):
    device_register(centre=world.centres.ovre, user=world.u.nurse, type="vekt", serial="V-1")
    devices_lend(patient=world.p.gjerdrum, user=world.u.nurse, serials=["V-1"])
    client = login(world.u.nurse)
    early = client.post("/utstyr/V-1/rengjort/", follow=True)
    assert "Bare en returnert enhet kan rengjøres" in _text(early)
    assert client.post("/utstyr/V-1/retur/").status_code == 200  # no date nor condition: the form again
    returned = {"returned_on": TODAY().isoformat(), "condition": "ok"}
    assert client.post("/utstyr/V-1/retur/", returned).status_code == 302
    assert client.post("/utstyr/V-1/rengjort/").status_code == 302
    assert Device.objects.get(serial="V-1").state == "cleaned"
    assert not loans_out_for(world.p.gjerdrum).exists()


def test_it_takes_the_evaluation_date_set_at_the_last_evaluation(world, login):
    referral = _consented(world)
    device_register(centre=world.centres.ovre, user=world.u.nurse, type="nettbrett", serial="NB-1")
    patient_start(patient=referral.patient, user=world.u.nurse, devices=["NB-1"])
    sections = {s.key: s for s in login(world.u.coordinator).get("/forlop/").context["sections"]}
    assert "Kari Nordmann" in [r.name for r in sections["active"].rows]
    assert "Kari Nordmann" not in [r.name for r in sections["due"].rows]  # the vedtak's date is 90 days off
    evaluation_next_set(patient=referral.patient, next_date=TODAY(), user=world.u.nurse)
    sections = {s.key: s for s in login(world.u.coordinator).get("/forlop/").context["sections"]}
    assert [r.name for r in sections["due"].rows] == ["Kari Nordmann"]


def test_the_board_does_not_query_per_patient(world, login):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import PatientFactory

    client = login(world.u.coordinator)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/forlop/").status_code == 200
        return len(captured)

    _granted(world, name="Innvilget Person")
    before = queries()
    for n in range(4):
        PatientFactory(municipality=world.m.gjerdrum, name=f"Aktiv {n}")
    _granted(world, name="Innvilget To")
    assert queries() == before
