"""«Mulig flytting»: a kommune that grants a person followed up elsewhere gets its own record and
learns nothing; the side that has the record is told and decides. Nothing outside the granting
user's scope changes until that side accepts."""

import datetime
import json
from pathlib import Path

import pytest
from django.apps import apps
from django.db.models import Q
from django.test import Client
from django.utils import timezone

from measurements.models import Reading
from measurements.services import integration_create
from patients.models import (
    ASSESSMENT_CRITERIA,
    MoveNotice,
    Patient,
    Referral,
)
from patients.services import device_register, devices_lend
from tenants.models import AuditEvent
from tests.factories import MembershipFactory, UserFactory, synthetic_national_id
from tests.patients.test_forlop_api import _consent, _days, _ok, _register_kols_kit
from triage.models import Alert

TODAY = timezone.localdate
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"
ID_FIELDS = {"id", "patient_id", "patient", "national_id", "referral_id"}


def _outside_rows(inside: set[int]) -> dict:
    """Every row of every table with a municipality, outside `inside`, as plain values: what the
    tests compare before and after (the notice and the audit log are checked on their own)."""
    rows = {}
    for model in apps.get_models():
        names = {f.name for f in model._meta.concrete_fields}
        if "municipality" not in names or model in (MoveNotice, AuditEvent):
            continue
        outside = model._base_manager.filter(~Q(municipality_id__in=inside)).order_by("pk")
        rows[model._meta.label] = list(outside.values())
    return rows


def _grant(client, national_id: str, number: str = "3230", name: str = "Navn Som Helst") -> list[dict]:
    """Henvisning → vurdering → innvilget vedtak through the API; the three answers."""
    body = {"national_id": national_id, "name": name, "municipality": number, "referrer": "hospital",
            "diagnoses": ["kols"], "reason": "Hyppige innleggelser."}  # fmt: skip
    registered = _ok(client.post("/api/v1/referrals/", body, format="json"))
    criteria = {code: {"answer": "yes"} for code in ASSESSMENT_CRITERIA}
    base = f"/api/v1/referrals/{registered['id']}"
    assessed = _ok(client.post(f"{base}/assessment/", {"criteria": criteria}, format="json"))
    decision = {"outcome": "granted", "reason": "Oppfyller kriteriene.", "period_to": _days(180),
                "evaluation_date": _days(90)}  # fmt: skip
    decided = _ok(client.post(f"{base}/decision/", decision, format="json"))
    detail = _ok(client.get(f"{base}/"), 200)
    return [registered, assessed, decided, detail]


def _shape(answer):
    """An answer with its ids and timestamps blanked: what must not differ between two people."""
    if isinstance(answer, dict):
        return {k: "…" if k in ID_FIELDS or k.endswith("_at") or k == "at" else _shape(v) for k, v in answer.items()}
    if isinstance(answer, list):
        return [_shape(v) for v in answer]
    return answer


@pytest.fixture
def tove(world):
    """Agder's patient in Grimstad, with an open red alert and a device on loan."""
    patient = world.p.grimstad
    alert = Alert.objects.create(patient=patient, municipality=patient.municipality, kind="out_of_range",
                                 colour="red", reason="SpO2 85 %")  # fmt: skip
    device_register(centre=world.centres.agder, user=world.u.nurse_agder, type="pulsoksymeter", serial="AG-OX-1")
    devices_lend(patient=patient, user=world.u.nurse_agder, serials=["AG-OX-1"])
    patient.alert = alert
    return patient


def test_it_answers_a_grant_of_another_centres_patient_exactly_as_for_an_unknown_person(world, api, tove):
    inside = {world.m.gjerdrum.pk}
    before = _outside_rows(inside)
    client = api(world.u.coordinator)
    known = _grant(client, tove.national_id)
    unknown = _grant(client, synthetic_national_id())
    assert [_shape(a) for a in known] == [_shape(a) for a in unknown]
    assert _outside_rows(inside) == before  # Tove's record, forløp, alert and loan: byte for byte
    tove.alert.refresh_from_db()
    assert tove.alert.status == "open"
    own = Patient.objects.get(pk=known[2]["patient_id"])
    assert (own.municipality, own.name, own.national_id) == (world.m.gjerdrum, "Navn Som Helst", tove.national_id)
    assert own.pk != tove.pk and not own.status_changes.exclude(municipality=world.m.gjerdrum).exists()
    # Tove's side is told: the requesting kommune and the date, nothing else.
    [notice] = MoveNotice.objects.filter(patient=tove)
    assert (notice.municipality, notice.other_municipality, notice.requested_on) == (
        world.m.grimstad, world.m.gjerdrum, TODAY()
    )  # fmt: skip
    assert not MoveNotice.objects.filter(municipality=world.m.gjerdrum).exists()


def test_it_shows_the_notice_to_the_side_that_follows_the_patient_and_not_to_the_asker(world, api, login, tove):
    _grant(api(world.u.coordinator), tove.national_id)
    koordinator_grimstad = UserFactory(username="koordinator.grimstad")
    MembershipFactory(user=koordinator_grimstad, role="coordinator", municipality=world.m.grimstad)
    for user, url in ((world.u.nurse_agder, "/worklist/"), (koordinator_grimstad, "/forlop/")):
        page = login(user).get(url)
        assert page.status_code == 200
        assert "Mulig flytting" in page.text and "innvilget i Gjerdrum" in page.text and tove.name in page.text
    asker = login(world.u.coordinator).get("/forlop/")
    assert "Mulig flytting" not in asker.text and tove.name not in asker.text
    # The asker cannot reach the record nor the answer page.
    assert login(world.u.coordinator).get(f"/patients/{tove.pk}/flytting/").status_code == 404


def test_it_moves_the_record_with_its_history_when_the_owner_accepts(world, api, login, tove):
    [_registered, _assessed, decided, _detail] = _grant(api(world.u.coordinator), tove.national_id)
    own = Patient.objects.get(pk=decided["patient_id"])
    notice = MoveNotice.objects.get(patient=tove)
    agder = login(world.u.nurse_agder)
    page = agder.get(f"/patients/{tove.pk}/flytting/")
    assert page.status_code == 200 and "AG-OX-1" in page.text and "Godta flytting" in page.text
    answered = agder.post(f"/patients/{tove.pk}/flytting/", {"notice": notice.pk, "answer": "accept"})
    assert answered.status_code == 302

    tove.refresh_from_db()
    own.refresh_from_db()
    assert tove.municipality == world.m.gjerdrum and tove.status == "pending"
    rows = list(tove.status_changes.order_by("at", "id").values_list("event", "municipality_id", "end_reason"))
    assert rows[-3:] == [("ended", world.m.grimstad.pk, "moved"), ("moved", world.m.gjerdrum.pk, ""),
                         ("granted", world.m.gjerdrum.pk, "")]  # fmt: skip
    tove.alert.refresh_from_db()
    assert tove.alert.status == "closed"
    assert own.merged_into == tove and own.status == "ended"
    assert Referral.objects.get(pk=_registered["id"]).patient == tove
    notice.refresh_from_db()
    assert notice.state == "accepted" and notice.decided_by == world.u.nurse_agder
    # Both sides told: Gjerdrum's board says the move was accepted; Agder no longer sees her.
    board = login(world.u.coordinator).get("/forlop/")
    assert "flytting fra Grimstad godtatt" in board.text
    assert agder.get(f"/patients/{tove.pk}/").status_code == 404
    assert AuditEvent.objects.filter(object_type="move_notice", username=world.u.nurse_agder.username).exists()
    assert AuditEvent.objects.filter(username="system:patients.move_accept").exists()


def test_the_board_shows_a_moved_person_once_not_their_merged_record_as_ended(world, api, login, tove):
    """The requesting kommune's own record is merged into the one that moved and ended with it: the
    person's forløp goes on in the moved record, so the board counts them once, not also as ended."""
    [*_, decided, _detail] = _grant(api(world.u.coordinator), tove.national_id, name=tove.name)
    notice = MoveNotice.objects.get(patient=tove)
    login(world.u.nurse_agder).post(f"/patients/{tove.pk}/flytting/", {"notice": notice.pk, "answer": "accept"})
    assert Patient.objects.get(pk=decided["patient_id"]).merged_into == tove
    sections = {s.key: s for s in login(world.u.coordinator).get("/forlop/").context["sections"]}
    shown = [(key, row.name) for key, section in sections.items() for row in section.rows if row.name == tove.name]
    assert shown == [("granted", tove.name)]
    assert decided["patient_id"] not in {str(row.pk) for row in sections["ended"].rows}


def test_a_new_henvisning_after_the_move_links_the_record_that_moved_not_the_merged_one(world, api, login, tove):
    """After the move the kommune holds two records of the person: the one that moved in, and its own
    one, merged into it and ended. A new henvisning (and so its vedtak, samtykke and oppstart) goes
    to the living record, whatever the names sort as («Navn Som Helst» before «Tove Grimstad»)."""
    [*_, decided, _detail] = _grant(api(world.u.coordinator), tove.national_id)
    notice = MoveNotice.objects.get(patient=tove)
    login(world.u.nurse_agder).post(f"/patients/{tove.pk}/flytting/", {"notice": notice.pk, "answer": "accept"})
    client = api(world.u.coordinator)
    _consent(client, tove)
    _ok(client.post(f"/api/v1/patients/{tove.pk}/start/", {"own_phone": True}, format="json"))
    _ok(client.post(f"/api/v1/patients/{tove.pk}/end/", {"reason": "withdrew"}, format="json"))
    body = {"national_id": tove.national_id, "name": tove.name, "municipality": "3230", "referrer": "gp",
            "reason": "Ønsker å starte igjen."}  # fmt: skip
    registered = _ok(client.post("/api/v1/referrals/", body, format="json"))
    assert Referral.objects.get(pk=registered["id"]).patient_id == tove.pk != decided["patient_id"]


def test_it_keeps_both_records_apart_when_declined(world, api, login, tove):
    [*_, decided, _detail] = _grant(api(world.u.coordinator), tove.national_id)
    notice = MoveNotice.objects.get(patient=tove)
    before = _outside_rows({world.m.gjerdrum.pk})
    answered = login(world.u.nurse_agder).post(f"/patients/{tove.pk}/flytting/", {"notice": notice.pk,
                                                                                   "answer": "decline"})  # fmt: skip
    assert answered.status_code == 302
    assert _outside_rows({world.m.gjerdrum.pk}) == before
    notice.refresh_from_db()
    assert notice.state == "declined"
    assert Patient.objects.filter(national_id=tove.national_id).count() == 2
    assert Patient.objects.get(pk=decided["patient_id"]).municipality == world.m.gjerdrum
    # Declined is answered: a second answer is refused, nothing changes.
    again = login(world.u.nurse_agder).post(f"/patients/{tove.pk}/flytting/", {"notice": notice.pk,
                                                                               "answer": "accept"})  # fmt: skip
    assert again.status_code == 302  # back to the page, which says why
    assert Patient.objects.get(pk=tove.pk).municipality == world.m.grimstad


def test_it_refuses_an_answer_from_who_cannot_change_the_record(world, api, login, tove):
    _grant(api(world.u.coordinator), tove.national_id)
    notice = MoveNotice.objects.get(patient=tove)
    # The fastlege sees Tove but does not handle her forløp: 403, nothing changed.
    refused = login(world.u.gp).post(f"/patients/{tove.pk}/flytting/", {"notice": notice.pk, "answer": "accept"})
    assert refused.status_code == 403
    notice.refresh_from_db()
    assert notice.state == "open"


def test_it_sends_a_reading_by_national_id_to_the_record_being_followed_up(world, api):
    """Two records in one centre's kommuner (Jens active in Nannestad, Gjerdrum's own pending one):
    a reading naming him by fødselsnummer goes to the active forløp."""
    jens = world.p.nannestad
    [*_, decided, _detail] = _grant(api(world.u.coordinator), jens.national_id)
    assert decided["patient_id"] != str(jens.pk)
    _integration, token = integration_create(centre=world.centres.ovre, name="Gateway")
    gateway = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    resource = json.loads((FIXTURES / "minimal-spo2-fnr.json").read_text())
    resource["subject"]["identifier"]["value"] = jens.national_id
    resource["effectiveDateTime"] = (timezone.localtime() - datetime.timedelta(minutes=1)).isoformat()
    created = gateway.post("/api/v1/fhir/Observation", resource, "application/fhir+json")
    assert created.status_code == 201, created.content
    assert Reading.objects.get().patient_id == jens.pk


def test_it_changes_nothing_outside_the_scope_over_the_whole_forlop(world, api, tove):
    """The Gjerdrum koordinator runs a whole forløp for Tove's fødselsnummer: henvisning → vurdering →
    vedtak → samtykke → oppstart with a kit's devices → evaluering → avslutning; every row outside
    Gjerdrum is as it was (the one notice to Tove's side apart)."""
    inside = {world.m.gjerdrum.pk}
    _register_kols_kit(world, api, ("OX-G", "pulsoksymeter"), ("TAB-G", "nettbrett"))
    before = _outside_rows(inside)
    client = api(world.u.coordinator)
    [*_, decided, _detail] = _grant(client, tove.national_id)
    own = Patient.objects.get(pk=decided["patient_id"])
    _consent(client, own)
    start = {"devices": ["OX-G", "TAB-G"], "kit": "KOLS", "training": "Hjemme", "trial_until": _days(14)}
    _ok(client.post(f"/api/v1/patients/{own.pk}/start/", start, format="json"))
    _ok(client.post(f"/api/v1/patients/{own.pk}/evaluation/", {"outcome": "continue", "next_date": _days(60)},
                    format="json"))  # fmt: skip
    _ok(client.post(f"/api/v1/patients/{own.pk}/end/", {"reason": "withdrew", "return": ["OX-G", "TAB-G"]},
                    format="json"))  # fmt: skip
    assert _outside_rows(inside) == before
    assert MoveNotice.objects.filter(municipality=world.m.grimstad).count() == 1


def test_it_answers_a_move_through_the_api(world, api, tove):
    _grant(api(world.u.coordinator), tove.national_id)
    agder = api(world.u.nurse_agder)
    [listed] = _ok(agder.get("/api/v1/move-notices/"), 200)
    assert (listed["patient_id"], listed["kind"], listed["other_municipality"]["name"]) == (
        str(tove.pk), "request", "Gjerdrum"
    )  # fmt: skip
    assert _ok(api(world.u.coordinator).get("/api/v1/move-notices/"), 200) == []
    assert api(world.u.coordinator).get(f"/api/v1/patients/{tove.pk}/moves/").status_code == 404
    assert api(world.u.gp).post(f"/api/v1/patients/{tove.pk}/moves/", {"notice": listed["id"], "answer": "accept"},
                                format="json").status_code == 403  # fmt: skip
    declined = _ok(agder.post(f"/api/v1/patients/{tove.pk}/moves/", {"notice": listed["id"], "answer": "decline"},
                              format="json"), 200)  # fmt: skip
    assert declined["state"] == "declined"
    again = agder.post(f"/api/v1/patients/{tove.pk}/moves/", {"notice": listed["id"], "answer": "accept"},
                       format="json")  # fmt: skip
    assert again.status_code == 400 and again.json()["detail"] == "Flyttingen er allerede besvart."
    tove.refresh_from_db()
    assert tove.municipality == world.m.grimstad


def test_the_old_kommunes_referral_shows_nothing_of_the_moved_record_even_without_the_database_wall(
    world, api, login, tove, monkeypatch
):
    """After the move Grimstad keeps its henvisning (its case, its vedtak), but the record is
    Gjerdrum's: its new phone, pårørende and samtykke are not Grimstad's to see. The selectors hold
    that on their own: here the database's wall lets every kommune through."""
    from dho import scope

    old = Referral.objects.create(
        municipality=world.m.grimstad, patient=tove, national_id=tove.national_id, name=tove.name,
        referrer="hospital", reason="Fra før.", status="granted", created_by=world.u.nurse_agder,
    )  # fmt: skip
    _grant(api(world.u.coordinator), tove.national_id)
    notice = MoveNotice.objects.get(patient=tove)
    agder = login(world.u.nurse_agder)
    agder.post(f"/patients/{tove.pk}/flytting/", {"notice": notice.pk, "answer": "accept"})
    Patient.objects.filter(pk=tove.pk).update(phone="99 88 77 66", next_of_kin="Ny pårørende i Gjerdrum")
    monkeypatch.setattr(scope, "reach_query", lambda user: (scope.EVERY_MUNICIPALITY_SQL, []))

    page = agder.get(f"/forlop/{old.pk}/")
    assert page.status_code == 200 and "Fra før." in page.text
    assert "99 88 77 66" not in page.text and "Ny pårørende i Gjerdrum" not in page.text
    assert f"/patients/{tove.pk}/" not in page.text
    for body in (api(world.u.nurse_agder).get(f"/api/v1/referrals/{old.pk}/").json(),
                 *api(world.u.nurse_agder).get("/api/v1/referrals/").json()["results"]):  # fmt: skip
        assert body["patient"] is None
    viewed = AuditEvent.objects.filter(object_type="referral", object_id=str(old.pk))
    assert {(e.patient_id, e.municipality_id) for e in viewed} == {(None, world.m.grimstad.pk)}
    # The new kommune's own view of the record is unchanged.
    mine = api(world.u.coordinator).get(f"/api/v1/referrals/{Referral.objects.get(municipality=world.m.gjerdrum).pk}/")
    assert mine.json()["patient"] == str(tove.pk)


def test_a_paused_forlop_carries_on_paused_to_the_same_date(world, api, login, tove):
    """Gjerdrum's own record was started and paused when Grimstad accepts the move: the moved record
    carries the forløp on paused until the same date (billing counts those days at the pause's share,
    the silence checks stay off), not as a forløp running again."""
    from patients.services import status_change_record

    [*_, decided, _detail] = _grant(api(world.u.coordinator), tove.national_id)
    own = Patient.objects.get(pk=decided["patient_id"])
    until = TODAY() + datetime.timedelta(days=20)
    status_change_record(patient=own, user=world.u.coordinator, event="started")
    status_change_record(patient=own, user=world.u.coordinator, event="paused", until=until)
    notice = MoveNotice.objects.get(patient=tove)
    login(world.u.nurse_agder).post(f"/patients/{tove.pk}/flytting/", {"notice": notice.pk, "answer": "accept"})
    tove.refresh_from_db()
    assert (tove.municipality, tove.status, tove.status_until) == (world.m.gjerdrum, "paused", until)
    rows = list(tove.status_changes.order_by("at", "id").values_list("event", "municipality_id", "until"))
    assert rows[-3:] == [("moved", world.m.gjerdrum.pk, None), ("started", world.m.gjerdrum.pk, None),
                         ("paused", world.m.gjerdrum.pk, until)]  # fmt: skip
