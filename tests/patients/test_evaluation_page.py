"""The evaluation page (patients:evaluation): continue with a new date, adjust the plan (a nurse; a
draft is opened) or end, with the errors by the fields and the service's refusals above the form;
the follow-up list and the board lead to it; started patients without an approved plan are listed
on the follow-up page and marked on the board, in one query for the whole board."""

import datetime

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ebp.models import PlanVersion, VersionStatus
from patients.models import ASSESSMENT_CRITERIA, Patient, Start, StatusChange
from patients.services import (
    assessment_record,
    consent_record,
    decision_record,
    device_register,
    patient_start,
    referral_register,
)
from tenants.models import AuditEvent
from tests.factories import synthetic_national_id
from triage.models import Alert, Contact

TODAY = timezone.localdate


def _days(n: int) -> datetime.date:
    return TODAY() + datetime.timedelta(days=n)


def _text(response) -> str:
    return response.content.decode()


def _started(world, name="Kari Nordmann", *, evaluation_in: int = 90, devices=()) -> Patient:
    """A Gjerdrum patient taken through the forløp by the services: granted, consented, started."""
    user = world.u.coordinator
    referral = referral_register(user=user, municipality=world.m.gjerdrum, national_id=synthetic_national_id(),
                                 name=name, referrer="hospital", reason="Hyppige innleggelser.")  # fmt: skip
    criteria = {code: {"answer": "yes", "comment": ""} for code in ASSESSMENT_CRITERIA}
    assessment_record(referral=referral, user=user, criteria=criteria)
    decision_record(referral=referral, user=user, outcome="granted", reason="Oppfyller kriteriene.",
                    period_to=_days(180), evaluation_date=_days(evaluation_in))  # fmt: skip
    referral.refresh_from_db()
    patient = referral.patient
    consent_record(patient=patient, user=user, given_by="patient", method="written", given_on=TODAY())
    patient_start(patient=patient, user=user, own_phone=True, devices=devices)
    patient.refresh_from_db()
    return patient


def _url(patient) -> str:
    return f"/patients/{patient.pk}/evaluering/"


def _written() -> tuple[int, int, int]:
    return StatusChange.objects.count(), Contact.objects.count(), PlanVersion.objects.count()


# --- the page -------------------------------------------------------------------------------------


def test_it_shows_the_form_with_the_due_date_and_audits_the_view(world, login):
    patient = _started(world, evaluation_in=20)
    response = login(world.u.nurse).get(_url(patient))
    body = _text(response)
    assert response.status_code == 200
    assert "Evaluering: Kari Nordmann" in body and f"{_days(20):%d.%m.%Y}" in body
    for label in ("Fortsetter", "Planen justeres", "Avsluttes", "Neste evaluering", "Årsak til avslutning"):
        assert label in body, label
    assert AuditEvent.objects.filter(object_type="evaluation", action="view", patient_id=patient.pk).count() == 1


def test_it_puts_each_error_by_its_field_and_writes_nothing(world, login):
    patient = _started(world)
    client = login(world.u.coordinator)
    before = _written()
    empty = _text(client.post(_url(patient), {}))
    assert 'id="id_outcome_error">Velg utfallet av evalueringen: fortsette, justere planen eller avslutte.' in empty
    no_date = _text(client.post(_url(patient), {"outcome": "continue"}))
    assert 'id="id_next_date_error">Oppgi datoen for neste evaluering når forløpet fortsetter.' in no_date
    past = _text(client.post(_url(patient), {"outcome": "continue", "next_date": TODAY().isoformat()}))
    assert 'id="id_next_date_error">Neste evaluering må være etter i dag.' in past
    garbled = _text(client.post(_url(patient), {"outcome": "continue", "next_date": "snart"}))
    assert 'id="id_next_date_error">Skriv datoen som dd.mm.åååå.' in garbled
    no_reason = _text(client.post(_url(patient), {"outcome": "end"}))
    assert 'id="id_end_reason_error">Velg en årsak til avslutningen.' in no_reason
    assert 'aria-invalid="true"' in no_reason
    assert _written() == before


def test_a_koordinator_continues_the_forlop_with_a_new_date(world, login):
    patient = _started(world)
    client = login(world.u.coordinator)
    response = client.post(_url(patient), {"outcome": "continue", "next_date": _days(60).isoformat(),
                                           "note": "God nytte"})  # fmt: skip
    assert response.status_code == 302 and response["Location"] == f"/patients/{patient.pk}/"
    page = _text(client.get(response["Location"]))
    assert f"Evalueringen er registrert. Neste evaluering {_days(60):%d.%m.%Y}." in page
    row = StatusChange.objects.get(patient=patient, event="evaluated")
    assert row.note == f"Fortsetter. Neste evaluering {_days(60):%d.%m.%Y}. God nytte"
    assert Start.objects.get(patient=patient).next_evaluation == _days(60)
    assert Contact.objects.get(patient=patient, kind="evaluation").by == world.u.coordinator
    patient.refresh_from_db()
    assert patient.status == "active"


def test_two_clicks_on_registrer_evaluering_record_one_evaluation(world, login):
    """The same evaluation (outcome and next date) sent twice within minutes is one: the second is told
    when and by whom it was recorded, above the form, and writes nothing (no second row, no second
    contact). Another date is another evaluation; the end sent twice ends the forløp once."""
    patient = _started(world)
    client = login(world.u.coordinator)
    sent = {"outcome": "continue", "next_date": _days(60).isoformat(), "note": "God nytte"}
    assert client.post(_url(patient), sent).status_code == 302
    before = _written()
    again = client.post(_url(patient), {**sent, "note": ""})
    assert again.status_code == 200
    assert (f"Denne evalueringen (Fortsetter, neste evaluering {_days(60):%d.%m.%Y}) ble registrert "
            f"{timezone.localtime():%d.%m.%Y} kl.") in _text(again)  # fmt: skip
    assert "Den er ikke registrert på nytt." in _text(again)
    assert _written() == before
    assert StatusChange.objects.filter(patient=patient, event="evaluated").count() == 1
    assert Contact.objects.filter(patient=patient, kind="evaluation").count() == 1
    other = {"outcome": "continue", "next_date": _days(30).isoformat()}  # a corrected date
    assert client.post(_url(patient), other).status_code == 302
    ended = {"outcome": "end", "end_reason": "no_benefit"}
    assert client.post(_url(patient), ended).status_code == 302
    twice = client.post(_url(patient), ended)
    assert "Denne evalueringen (Avsluttes) ble registrert" in _text(twice)
    assert StatusChange.objects.filter(patient=patient, event="ended").count() == 1


def test_an_evaluation_sent_while_the_same_is_being_stored_waits_before_its_check(world, monkeypatch):
    """The second of two simultaneous submits waits for the first on the patient's row before it looks
    for the same evaluation, so that it sees it; here it gives up after a second, without having
    looked. Had it looked first it would have found nothing (the first not yet committed) and stored
    a second evaluation once the first was done."""
    import threading

    from patients.services import evaluation as evaluation_service
    from tests.concurrency import WAITED, at_the_same_moment

    patient = world.p.gjerdrum  # active, and committed: the second click's connection sees it
    sent = {"patient": patient, "user": world.u.coordinator, "outcome": "continue", "next_date": _days(60)}
    evaluation_service.evaluation_record(**sent)  # the first click: stored, not yet committed
    looked = []
    real = evaluation_service._evaluation_repeat_refusal

    def looking(*args):
        looked.append(threading.current_thread() is not threading.main_thread())
        return real(*args)

    monkeypatch.setattr(evaluation_service, "_evaluation_repeat_refusal", looking)

    def second_click() -> str:
        evaluation_service.evaluation_record(**sent)
        return "recorded"

    assert at_the_same_moment([world.m.gjerdrum.pk], second_click) == WAITED and looked == []
    assert StatusChange.objects.filter(patient=patient, event="evaluated").count() == 1


def test_a_koordinator_who_adjusts_the_plan_is_told_why_not_above_the_form(world, login):
    patient = _started(world)
    before = _written()
    response = login(world.u.coordinator).post(_url(patient), {"outcome": "adjust",
                                                               "next_date": _days(30).isoformat()})  # fmt: skip
    body = _text(response)
    assert response.status_code == 200  # the form again, not a bare 403 page
    assert "Bare sykepleiere som følger opp pasienten kan justere egenbehandlingsplanen." in body
    assert 'role="alert"' in body and "«Planen justeres» registreres av en sykepleier" in body
    assert _written() == before  # neither the evaluation nor a draft


def test_a_nurse_who_adjusts_the_plan_opens_a_draft(world, login):
    patient = _started(world)
    client = login(world.u.nurse)
    response = client.post(_url(patient), {"outcome": "adjust", "next_date": _days(30).isoformat()})
    assert response.status_code == 302
    draft = PlanVersion.objects.get(plan__patient=patient)
    assert draft.status == VersionStatus.DRAFT
    assert f"utkastet (versjon {draft.number}) er åpent under Egenbehandlingsplan" in _text(
        client.get(response["Location"])
    )
    assert Start.objects.get(patient=patient).next_evaluation == _days(30)


def test_an_evaluation_that_ends_the_forlop_closes_alerts_and_lists_what_is_out(world, login):
    device_register(centre=world.centres.ovre, user=world.u.nurse, type="pulsoksymeter", serial="OX-7")
    patient = _started(world, devices=["OX-7"])
    alert = Alert.objects.create(patient=patient, municipality=patient.municipality, kind="out_of_range",
                                 colour="red", reason="SpO2 85 %")  # fmt: skip
    client = login(world.u.coordinator)
    response = client.post(_url(patient), {"outcome": "end", "end_reason": "no_benefit", "next_date": ""})
    assert response.status_code == 302
    patient.refresh_from_db()
    alert.refresh_from_db()
    assert patient.status == "ended"
    assert (alert.status, alert.closed_reason) == ("closed", "Forløp avsluttet")
    ended = StatusChange.objects.get(patient=patient, event="ended")
    assert ended.end_reason == "no_benefit"
    page = _text(client.get(response["Location"]))
    assert "forløpet er avsluttet (Ingen nytte)" in page and "Utstyr som fortsatt er utlånt:" in page
    assert "OX-7" in page


def test_an_ended_forlop_is_not_evaluated_and_the_refusal_is_above_the_form(world, login):
    patient = _started(world)
    client = login(world.u.coordinator)
    assert client.post(f"/patients/{patient.pk}/avslutt/", {"reason": "withdrew", "confirm": "1"}).status_code == 302
    page = _text(client.get(_url(patient)))
    assert "Evaluering registreres for pasienter i et aktivt forløp eller på pause" in page
    assert "Registrer evalueringen" not in page
    before = _written()
    refused = _text(client.post(_url(patient), {"outcome": "continue", "next_date": _days(30).isoformat()}))
    assert "«Evaluert» er ikke mulig når pasienten har status «avsluttet»." in refused
    assert _written() == before


def test_it_leaves_the_evaluation_to_the_patients_nurses_and_koordinator(world, login):
    patient = world.p.gjerdrum
    url = _url(patient)
    assert login(world.u.gp).get(url).status_code == 403  # sees the patient, does not evaluate
    assert login(world.u.gp).post(url, {"outcome": "end", "end_reason": "other"}).status_code == 403
    assert login(world.u.nurse_agder).get(url).status_code == 404
    assert login(world.u.coordinator).get(f"/patients/{world.p.nannestad.pk}/evaluering/").status_code == 404
    assert not StatusChange.objects.filter(patient=patient).exists()


# --- the ways to it -------------------------------------------------------------------------------


def test_the_follow_up_list_and_the_patient_page_lead_to_the_evaluation(world, login):
    patient = _started(world)
    Start.objects.filter(patient=patient).update(next_evaluation=TODAY() - datetime.timedelta(days=1))
    nurse = login(world.u.nurse)
    followup = _text(nurse.get("/followup/"))
    assert f'href="/patients/{patient.pk}/evaluering/"' in followup
    assert f"/patients/{patient.pk}/contacts/" not in followup.split('id="evaluation"')[1].split("</section>")[0]
    assert f'href="/patients/{patient.pk}/evaluering/"' in _text(nurse.get(f"/patients/{patient.pk}/"))
    nurse.post(_url(patient), {"outcome": "continue", "next_date": _days(90).isoformat()})
    due = nurse.get("/followup/").context["due"]
    assert patient not in {row.patient for row in due.evaluation}


def test_the_boards_evaluation_due_rows_lead_to_the_evaluation(world, login):
    patient = _started(world, name="Evalueres Snart", evaluation_in=5)
    body = _text(login(world.u.coordinator).get("/forlop/"))
    due = body.split('id="stage-due"')[1].split("</section>")[0]
    assert "Evalueres Snart" in due and f'href="/patients/{patient.pk}/evaluering/"' in due


# --- started without an approved plan ---------------------------------------------------------------


def _approve(patient, world) -> None:
    from ebp import services as ebp

    draft = ebp.draft_start(patient=patient, user=world.u.nurse,
                            content={"thresholds": {"spo2": {"value": {"red_below": 88}}}})  # fmt: skip
    ebp.draft_submit(version=draft, user=world.u.nurse)
    ebp.version_approve(version=draft, user=world.u.gp)


def _board_badges(body: str) -> set[str]:
    """The names of the board rows marked «Mangler godkjent plan»."""
    marked = set()
    for row in body.split("<li>")[1:]:
        if "Mangler godkjent plan" in row:
            marked.add(row.split('">', 1)[1].split("</a>", 1)[0])
    return marked


def test_the_board_marks_started_patients_without_an_approved_plan(world, login):
    without = _started(world, name="Uten Plan")
    with_plan = _started(world, name="Med Plan")
    with_plan.gp = world.u.gp
    with_plan.save(update_fields=["gp"])
    _approve(with_plan, world)
    _approve(world.p.gjerdrum, world)
    ended = _started(world, name="Avsluttet Uten Plan")
    ending = login(world.u.coordinator).post(f"/patients/{ended.pk}/avslutt/", {"reason": "other", "confirm": "1"})
    assert ending.status_code == 302
    body = _text(login(world.u.coordinator).get("/forlop/"))
    assert _board_badges(body) == {without.name}


def test_the_plan_badges_cost_one_query_whatever_the_board(world, login):
    client = login(world.u.coordinator)
    _started(world, name="Første Uten Plan")
    client.get("/forlop/")  # warm the session and the scope
    with CaptureQueriesContext(connection) as few:
        client.get("/forlop/")
    for n in range(4):
        _started(world, name=f"Flere Uten Plan {n}")
    with CaptureQueriesContext(connection) as many:
        body = _text(client.get("/forlop/"))
    assert len(_board_badges(body)) == 6  # the five new patients and Rune Gjerdrum (no plan either)
    plan_queries = [q for q in many.captured_queries if "ebp_planversion" in q["sql"]]
    assert len(plan_queries) == 1
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_follow_up_page_lists_started_patients_without_an_approved_plan(world, login):
    without = _started(world, name="Uten Plan")
    _approve(world.p.gjerdrum, world)
    response = login(world.u.nurse).get("/followup/")
    names = {p.name for p in response.context["no_plan"]}
    # Olav and Jens (active, no plan at all) and the new patient; Rune's plan is approved.
    assert names == {"Uten Plan", "Olav Ullensaker", "Jens Nannestad"}
    section = _text(response).split('id="no-plan"')[1].split("</section>")[0]
    assert f'href="/patients/{without.pk}/plan/"' in section and "Rune Gjerdrum" not in section
    page = _text(login(world.u.nurse).get(f"/patients/{without.pk}/"))
    assert 'id="plan-missing"' in page
    assert 'id="plan-missing"' not in _text(login(world.u.nurse).get(f"/patients/{world.p.gjerdrum.pk}/"))


def test_a_paused_patient_without_a_plan_is_still_listed(world, login):
    patient = _started(world, name="På Pause")
    login(world.u.coordinator).post(f"/patients/{patient.pk}/pause/", {"until": _days(7).isoformat()})
    patient.refresh_from_db()
    assert patient.status == "paused"
    assert "På Pause" in {p.name for p in login(world.u.nurse).get("/followup/").context["no_plan"]}
