"""The henvisning process through the API: henvisning → vurdering → vedtak (klage) → samtykke, its
privacy rule (registering a national id learns nothing outside the scope), the move rule, the order
of the steps and the vedtaksbrev PDF. The «mulig flytting» notices: tests/patients/test_moves.py."""

import datetime
import io

import pypdf
import pytest
from django.utils import timezone

from patients.models import (
    ASSESSMENT_CRITERIA,
    Consent,
    Decision,
    Patient,
    Referral,
    StatusChange,
)
from tenants.models import AuditEvent
from tests.factories import MembershipFactory, UserFactory, synthetic_national_id
from triage.models import Alert

TODAY = timezone.localdate


def _body(number: str, national_id: str | None = None, **extra) -> dict:
    return {
        "national_id": national_id or synthetic_national_id(),
        "name": "Kari Nordmann",
        "municipality": number,
        "referrer": "hospital",
        "referrer_name": "Ahus lungeavdeling",
        "diagnoses": ["kols"],
        "reason": "Hyppige innleggelser for KOLS-forverring.",
        "phone": "40000000",
        "next_of_kin": "Ola Nordmann (sønn), 41000000",
        **extra,
    }


def _criteria(**override) -> dict:
    criteria = {code: {"answer": "yes", "comment": ""} for code in ASSESSMENT_CRITERIA}
    criteria.update(override)
    return criteria


def _granted(**extra) -> dict:
    today = TODAY()
    return {
        "outcome": "granted",
        "reason": "Oppfyller kriteriene for digital hjemmeoppfølging.",
        "period_from": today.isoformat(),
        "period_to": (today + datetime.timedelta(days=180)).isoformat(),
        "evaluation_date": (today + datetime.timedelta(days=90)).isoformat(),
        **extra,
    }


def _register(client, number: str, **kwargs) -> str:
    response = client.post("/api/v1/referrals/", _body(number, **kwargs), format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def _assessed(client, number: str, **kwargs) -> str:
    referral_id = _register(client, number, **kwargs)
    response = client.post(f"/api/v1/referrals/{referral_id}/assessment/", {"criteria": _criteria()}, format="json")
    assert response.status_code == 201, response.json()
    return referral_id


@pytest.mark.parametrize(("role", "number"), [("coordinator", "3230"), ("nurse_nordrefollo", "3207")])
def test_it_walks_the_process_through_the_api(world, api, role, number):
    client = api(getattr(world.u, role))
    created = client.post("/api/v1/referrals/", _body(number), format="json")
    assert created.status_code == 201
    assert set(created.json()) == {"id", "status"} and created.json()["status"] == "received"
    referral_id = created.json()["id"]

    assessed = client.post(
        f"/api/v1/referrals/{referral_id}/assessment/",
        {"criteria": _criteria(coverage={"answer": "unknown", "comment": "Sjekkes ved hjemmebesøk"}),
         "what_matters": "Å kunne gå tur med hunden."},
        format="json",
    )  # fmt: skip
    assert assessed.status_code == 201 and assessed.json()["status"] == "assessed"

    decided = client.post(f"/api/v1/referrals/{referral_id}/decision/", _granted(), format="json")
    assert decided.status_code == 201, decided.json()
    assert decided.json()["status"] == "granted"
    patient = Patient.objects.get(pk=decided.json()["patient_id"])
    assert patient.municipality.number == number and patient.name == "Kari Nordmann"
    assert Decision.objects.get(referral_id=referral_id).legal_basis == (
        "helse- og omsorgstjenesteloven § 3-2 første ledd nr. 6"
    )

    consent = client.post(
        f"/api/v1/patients/{patient.pk}/consent/",
        {"given_by": "patient", "method": "written", "given_on": TODAY().isoformat()},
        format="json",
    )
    assert consent.status_code == 201, consent.json()
    assert consent.json()["referral_id"] == referral_id
    assert Consent.objects.get(patient=patient).municipality.number == number

    detail = client.get(f"/api/v1/referrals/{referral_id}/").json()
    assert [row["event"] for row in detail["history"]] == ["received", "assessed", "granted"]
    assert detail["assessment"]["criteria"]["coverage"] == {"answer": "unknown", "comment": "Sjekkes ved hjemmebesøk"}
    assert detail["assessment"]["what_matters"] == "Å kunne gå tur med hunden."
    assert detail["decision"]["outcome"] == "granted" and detail["status"] == "granted"
    assert [r["id"] for r in client.get("/api/v1/referrals/?status=granted").json()["results"]] == [referral_id]
    assert client.get("/api/v1/referrals/?status=received").json()["results"] == []
    # The granted row belongs to the patient as well (billing reads it); no oppstart row yet.
    assert list(patient.status_changes.values_list("event", flat=True)) == ["granted"]
    mine = AuditEvent.objects.filter(username=getattr(world.u, role).username)
    audited = set(mine.values_list("object_type", flat=True))
    assert {"referral", "assessment", "decision", "status_change", "patient", "consent"} <= audited


def test_it_answers_a_national_id_outside_the_scope_exactly_as_a_new_person(world, api):
    client = api(world.u.coordinator)
    foreign = world.p.nannestad  # a patient in Nannestad: outside the Gjerdrum koordinator's scope
    known = client.post("/api/v1/referrals/", _body("3230", foreign.national_id, name=foreign.name), format="json")
    fresh = client.post("/api/v1/referrals/", _body("3230", name=foreign.name), format="json")
    assert known.status_code == fresh.status_code == 201
    assert set(known.json()) == set(fresh.json()) and known.json()["status"] == fresh.json()["status"]
    assert Referral.objects.get(pk=known.json()["id"]).patient is None  # nothing linked, nothing learnt
    detail = client.get(f"/api/v1/referrals/{known.json()['id']}/").json()
    assert detail["patient"] is None and str(foreign.pk) not in str(detail)
    foreign.refresh_from_db()
    assert foreign.municipality == world.m.nannestad and not foreign.status_changes.exists()
    # An invalid national id is refused alike for everyone, in Norwegian.
    invalid = client.post("/api/v1/referrals/", _body("3230", "12345678901"), format="json")
    assert invalid.status_code == 400 and invalid.json()["detail"].startswith("Fødselsnummer:")


def test_it_links_a_person_already_known_in_the_scope(world, api):
    client = api(world.u.coordinator)
    rune = world.p.gjerdrum
    referral_id = _assessed(client, "3230", national_id=rune.national_id, name=rune.name)
    assert Referral.objects.get(pk=referral_id).patient == rune
    patients_before = Patient.objects.count()
    decided = client.post(f"/api/v1/referrals/{referral_id}/decision/", _granted(), format="json")
    assert decided.json()["patient_id"] == str(rune.pk)
    assert Patient.objects.count() == patients_before
    rune.refresh_from_db()
    assert rune.municipality == world.m.gjerdrum  # no move within the municipality


def test_it_moves_a_patient_from_another_municipality_once_that_side_accepts(world, api, login):
    client = api(world.u.coordinator)
    jens = world.p.nannestad  # active in Nannestad, unknown to the Gjerdrum koordinator
    alert = Alert.objects.create(patient=jens, municipality=jens.municipality, kind="out_of_range", colour="red",
                                 reason="x")  # fmt: skip
    referral_id = _assessed(client, "3230", national_id=jens.national_id, name=jens.name)
    decided = client.post(f"/api/v1/referrals/{referral_id}/decision/", _granted(), format="json")
    assert decided.status_code == 201
    assert decided.json()["patient_id"] != str(jens.pk)  # Gjerdrum's own record until Nannestad says yes
    jens.refresh_from_db()
    assert jens.municipality == world.m.nannestad and jens.status == "active" and not jens.status_changes.exists()
    alert.refresh_from_db()
    assert alert.status == "open"

    koordinator_nannestad = UserFactory(username="koordinator.nannestad")
    MembershipFactory(user=koordinator_nannestad, role="coordinator", municipality=world.m.nannestad)
    notice = jens.move_notices.get()
    accepted = login(koordinator_nannestad).post(f"/patients/{jens.pk}/flytting/", {"notice": notice.pk,
                                                                                    "answer": "accept"})  # fmt: skip
    assert accepted.status_code == 302
    jens.refresh_from_db()
    assert jens.municipality == world.m.gjerdrum
    assert jens.status == "pending"  # the Nannestad forløp ended; Gjerdrum's waits for its oppstart
    rows = list(jens.status_changes.order_by("at", "id"))
    assert [(r.event, r.municipality_id, r.end_reason) for r in rows] == [
        ("ended", world.m.nannestad.pk, "moved"),
        ("moved", world.m.gjerdrum.pk, ""),
        ("granted", world.m.gjerdrum.pk, ""),
    ]
    assert rows[1].previous_municipality == world.m.nannestad
    assert Referral.objects.get(pk=referral_id).patient == jens  # the henvisning goes with the one record
    alert.refresh_from_db()
    assert alert.status == "closed"  # the Nannestad forløp's open alert closed with its end
    assert {r.effective_date for r in rows} == {TODAY()}
    # The Nannestad side no longer sees the patient; the Gjerdrum side does.
    assert api(koordinator_nannestad).get(f"/api/v1/patients/{jens.pk}/").status_code == 404
    assert api(world.u.coordinator).get(f"/api/v1/patients/{jens.pk}/").status_code == 200


def test_it_ends_a_refused_referral_with_its_reason_and_registers_a_klage(world, api):
    client = api(world.u.coordinator)
    referral_id = _assessed(client, "3230")
    refused = client.post(
        f"/api/v1/referrals/{referral_id}/decision/",
        {"outcome": "refused", "reason": "Mangler nettdekning hjemme."},
        format="json",
    )
    assert refused.status_code == 201 and refused.json() == {
        "id": refused.json()["id"], "outcome": "refused", "patient_id": None, "status": "refused"
    }  # fmt: skip
    assert StatusChange.objects.get(referral_id=referral_id, event="refused").note == "Mangler nettdekning hjemme."
    appeal = client.post(f"/api/v1/referrals/{referral_id}/appeal/", {"received_on": TODAY().isoformat(),
                         "note": "Pårørende klager"}, format="json")  # fmt: skip
    assert appeal.status_code == 201
    decided = client.post(f"/api/v1/referrals/{referral_id}/appeal/decide/", {"outcome": "upheld"}, format="json")
    assert decided.status_code == 201 and decided.json()["outcome"] == "upheld"
    [shown] = client.get(f"/api/v1/referrals/{referral_id}/").json()["decision"]["appeals"]
    assert shown["outcome"] == "upheld" and shown["outcome_on"] == TODAY().isoformat()
    assert not Patient.objects.filter(name="Kari Nordmann").exists()


def _post(client, url, data) -> tuple[int, str]:
    response = client.post(url, data, format="json")
    return response.status_code, response.json().get("detail", response.json())


def test_it_refuses_every_step_out_of_order_with_its_reason(world, api):
    client = api(world.u.coordinator)
    referral_id = _register(client, "3230")
    base = f"/api/v1/referrals/{referral_id}"
    written = StatusChange.objects.count()
    assert _post(client, f"{base}/decision/", _granted()) == (
        400, "Henvisningen må vurderes før det kan fattes vedtak."
    )  # fmt: skip
    assert _post(client, f"{base}/appeal/", {"received_on": TODAY().isoformat()}) == (
        400, "Det finnes ikke noe vedtak å klage på."
    )  # fmt: skip
    assert _post(client, f"{base}/appeal/decide/", {"outcome": "upheld"}) == (
        400, "Det finnes ingen klage til behandling på denne henvisningen."
    )  # fmt: skip
    missing = _criteria()
    del missing["coverage"]
    assert _post(client, f"{base}/assessment/", {"criteria": missing}) == (
        400, "Kriteriet «Nettdekning hjemme» mangler svar (ja, nei eller vet ikke)."
    )  # fmt: skip
    assert StatusChange.objects.count() == written  # nothing written by a refused step
    assert _post(client, f"{base}/assessment/", {"criteria": _criteria()})[0] == 201

    today = TODAY()
    assert _post(client, f"{base}/decision/", _granted(reason=" ")) == (400, "Vedtaket må ha en begrunnelse.")
    no_end = _granted()
    del no_end["period_to"]
    assert _post(client, f"{base}/decision/", no_end) == (
        400, "Et innvilget vedtak må ha en periode: fyll ut til-dato."
    )  # fmt: skip
    late = _granted(evaluation_date=(today + datetime.timedelta(days=400)).isoformat())
    end = today + datetime.timedelta(days=180)
    assert _post(client, f"{base}/decision/", late) == (
        400, f"Evalueringsdatoen må ligge innenfor perioden {today:%d.%m.%Y}–{end:%d.%m.%Y}."
    )  # fmt: skip
    assert not Decision.objects.filter(referral_id=referral_id).exists()

    assert _post(client, f"{base}/decision/", _granted())[0] == 201
    assert _post(client, f"{base}/decision/", _granted()) == (
        400, "Henvisningen har allerede et vedtak. Endringer går gjennom klage."
    )  # fmt: skip
    assert _post(client, f"{base}/assessment/", {"criteria": _criteria()}) == (
        400, "Henvisningen kan ikke vurderes når den har status «innvilget»."
    )  # fmt: skip
    assert _post(client, f"{base}/appeal/", {"received_on": today.isoformat()})[0] == 201
    assert _post(client, f"{base}/appeal/", {"received_on": today.isoformat()}) == (
        400, "Det er allerede en klage til behandling på dette vedtaket."
    )  # fmt: skip

    patient_id = Referral.objects.get(pk=referral_id).patient_id
    consent = f"/api/v1/patients/{patient_id}/consent/"
    by_representative = {"given_by": "representative", "method": "verbal", "given_on": today.isoformat(),
                         "representative_name": "Ola Nordmann"}  # fmt: skip
    assert _post(client, consent, by_representative) == (
        400, "Samtykke fra en representant: oppgi representantens navn og rolle."
    )  # fmt: skip
    future = {"given_by": "patient", "method": "verbal", "given_on": (today + datetime.timedelta(days=1)).isoformat()}
    assert _post(client, consent, future) == (400, "Oppgi når samtykket ble gitt (ikke fram i tid).")
    assert not Consent.objects.exists()
    assert _post(client, consent, {**by_representative, "representative_role": "verge"})[0] == 201

    again = client.post("/api/v1/referrals/", _body("3230", Referral.objects.get(pk=referral_id).national_id),
                        format="json")  # fmt: skip
    assert again.status_code == 400 and again.json()["detail"] == "Personen har allerede en åpen henvisning i Gjerdrum."


def test_it_refuses_a_municipality_outside_the_users_referral_scope(world, api):
    # The fastlege sees Rune by permission but handles no referrals; the koordinator only Gjerdrum's.
    for user, number in ((world.u.gp, "3230"), (world.u.coordinator, "3238"), (world.u.coordinator, "9999")):
        response = api(user).post("/api/v1/referrals/", _body(number), format="json")
        assert response.status_code == 400
        assert response.json() == {"municipality": [f"Du kan ikke registrere henvisninger for kommunenummer {number}."]}
    assert not Referral.objects.exists()


def test_it_answers_404_for_another_municipalitys_referrals(world, api, login):
    koordinator_nannestad = UserFactory(username="koordinator.nannestad")
    MembershipFactory(user=koordinator_nannestad, role="coordinator", municipality=world.m.nannestad)
    gjerdrum = api(world.u.coordinator)
    referral_id = _assessed(gjerdrum, "3230")
    gjerdrum.post(f"/api/v1/referrals/{referral_id}/decision/", _granted(), format="json")
    patient_id = Referral.objects.get(pk=referral_id).patient_id

    client = api(koordinator_nannestad)
    before = (StatusChange.objects.count(), AuditEvent.objects.count(), Consent.objects.count())
    base = f"/api/v1/referrals/{referral_id}"
    assert client.get(f"{base}/").status_code == 404
    for url in (f"{base}/assessment/", f"{base}/decision/", f"{base}/appeal/", f"{base}/appeal/decide/",
                f"/api/v1/patients/{patient_id}/consent/"):  # fmt: skip
        assert client.post(url, {}, format="json").status_code == 404, url
    assert login(koordinator_nannestad).get(f"/patients/referrals/{referral_id}/vedtak.pdf").status_code == 404
    assert (StatusChange.objects.count(), AuditEvent.objects.count(), Consent.objects.count()) == before
    assert client.get("/api/v1/referrals/").json()["results"] == []  # (a list read: audited, with no row)


def _pdf_text(response) -> str:
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def test_it_writes_the_vedtaksbrev_as_a_pdf(world, api, login):
    client = api(world.u.coordinator)
    national_id = synthetic_national_id()
    referral_id = _assessed(client, "3230", national_id=national_id)
    client.post(f"/api/v1/referrals/{referral_id}/decision/", _granted(), format="json")
    since = AuditEvent.objects.count()
    text = _pdf_text(login(world.u.coordinator).get(f"/patients/referrals/{referral_id}/vedtak.pdf"))
    today, end = TODAY(), TODAY() + datetime.timedelta(days=180)
    for expected in (
        "Gjerdrum kommune",
        "Kari Nordmann",
        national_id,
        "Søknaden om digital hjemmeoppfølging er innvilget.",
        "Oppfyller kriteriene for digital hjemmeoppfølging.",
        "helse- og omsorgstjenesteloven § 3-2 første ledd nr. 6",
        f"perioden {today:%d.%m.%Y} til {end:%d.%m.%Y}",
        "Fristen for å klage er tre uker",
        "Statsforvalteren",
        "forvaltningsloven § 28",
        "pasient- og brukerrettighetsloven § 7-2",
        "Gjerdrum kommune – vedtak om digital hjemmeoppfølging – side 1 av",
    ):
        assert expected in text, expected
    assert AuditEvent.objects.filter(pk__gt=since, action="export", object_type="decision").count() == 1


def test_the_letters_file_is_named_by_the_date_on_it_not_the_utc_day(world, api, login):
    """A vedtak made at 00:30 Norwegian time is dated that day in the letter and in its file name
    (in UTC it is still the day before)."""
    from patients.models import Decision

    client = api(world.u.coordinator)
    referral_id = _assessed(client, "3230")
    client.post(f"/api/v1/referrals/{referral_id}/decision/", _granted(), format="json")
    after_midnight = timezone.make_aware(datetime.datetime.combine(TODAY(), datetime.time(0, 30)))
    Decision.objects.filter(referral_id=referral_id).update(decided_at=after_midnight)
    response = login(world.u.coordinator).get(f"/patients/referrals/{referral_id}/vedtak.pdf")
    assert response["Content-Disposition"] == f'inline; filename="vedtak-{TODAY():%Y-%m-%d}.pdf"'


def test_it_writes_the_refusal_letter_with_its_begrunnelse(world, api, login):
    client = api(world.u.coordinator)
    referral_id = _assessed(client, "3230")
    assert login(world.u.coordinator).get(f"/patients/referrals/{referral_id}/vedtak.pdf").status_code == 404
    client.post(f"/api/v1/referrals/{referral_id}/decision/", {"outcome": "refused", "reason": "Ingen nettdekning."},
                format="json")  # fmt: skip
    text = _pdf_text(login(world.u.coordinator).get(f"/patients/referrals/{referral_id}/vedtak.pdf"))
    assert "Søknaden om digital hjemmeoppfølging er avslått." in text
    assert "Ingen nettdekning." in text and "Fristen for å klage er tre uker" in text
    assert "Vedtaket gjelder for perioden" not in text


def test_it_lets_only_nurses_and_the_koordinator_record_consent(world, api):
    # The fastlege sees Rune (object permission) but the samtykke is the municipality's to record.
    body = {"given_by": "patient", "method": "written", "given_on": TODAY().isoformat()}
    response = api(world.u.gp).post(f"/api/v1/patients/{world.p.gjerdrum.pk}/consent/", body, format="json")
    assert response.status_code == 403
    assert not Consent.objects.exists()
    assert api(world.u.nurse).post(f"/api/v1/patients/{world.p.gjerdrum.pk}/consent/", body,
                                   format="json").status_code == 201  # fmt: skip


def test_it_audits_a_referral_before_there_is_a_patient_under_its_municipality(world, api):
    referral_id = _register(api(world.u.coordinator), "3230")
    events = AuditEvent.objects.filter(object_id__in=[referral_id], object_type="referral")
    assert [(e.municipality_id, e.patient_id, e.role) for e in events] == [(world.m.gjerdrum.pk, None, "coordinator")]


def test_two_clicks_on_registrer_henvisning_make_one_henvisning(world):
    """The second registration of the same person in the kommune, sent while the first is still being
    stored (its transaction open), waits for the first instead of storing a second henvisning beside
    it; here it gives up after a second, with nothing stored."""
    from patients.services import ReferralRefused, referral_register
    from tests.concurrency import WAITED, at_the_same_moment

    person = {"user": world.u.coordinator, "municipality": world.m.gjerdrum, "national_id": synthetic_national_id(),
              "name": "Kari Nordmann", "referrer": "hospital", "reason": "Hyppige innleggelser."}  # fmt: skip
    referral_register(**person)  # the first click: stored, not yet committed

    def second_click() -> str:
        try:
            referral_register(**person)
        except ReferralRefused as exc:
            return str(exc)
        return "registered"

    assert at_the_same_moment([world.m.gjerdrum.pk], second_click) == WAITED
    assert Referral.objects.filter(national_id=person["national_id"]).count() == 1


def test_a_vedtak_period_begins_no_earlier_than_the_henvisning_was_received(world, api):
    client = api(world.u.coordinator)
    received = TODAY() - datetime.timedelta(days=5)
    referral_id = _assessed(client, "3230", received_on=received.isoformat())
    base = f"/api/v1/referrals/{referral_id}"
    before = _granted(period_from=(received - datetime.timedelta(days=1)).isoformat())
    assert _post(client, f"{base}/decision/", before) == (
        400, f"Periodens fra-dato kan ikke være før henvisningen ble mottatt ({received:%d.%m.%Y})."
    )  # fmt: skip
    assert not Decision.objects.filter(referral_id=referral_id).exists()
    assert _post(client, f"{base}/decision/", _granted(period_from=received.isoformat()))[0] == 201
