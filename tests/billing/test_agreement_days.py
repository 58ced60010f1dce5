"""A month bills a kommune for the days its agreement covers, each once: overlapping agreements of
one kommune (rows saved before the service refused them) count a day once, a loan's days are cut at
the agreement as the patient-days are, and a move that carries a started forløp on is no second
oppstart."""

import datetime

import pytest
from django.utils import timezone

from billing.calculation import Month
from billing.models import PriceModel
from billing.selectors import allocation_for, coordinator_basis
from patients.models import ASSESSMENT_CRITERIA, MoveNotice, Patient
from patients.services.moves import move_accept
from tenants.models import Agreement
from tests.billing import test_pages as pages

priced = pages.priced  # Øvre's price model (1 212 kr, 896 kr, pulsoksymeter 100 kr), Rune active since May with PO-77
NOV = Month(datetime.date(2026, 11, 1))  # 30 days


def gjerdrum_lines(world, month=NOV) -> dict:
    allocation = allocation_for(world.centres.ovre, month)
    group = next(m for m in allocation.municipalities if m.municipality == world.m.gjerdrum)
    return {(line.component, line.item): (line.quantity, line.amount_ore) for line in group.lines}


def gjerdrum_agreement(world, valid_from, valid_to) -> Agreement:
    agreement = Agreement.objects.get(centre=world.centres.ovre, municipality=world.m.gjerdrum)
    agreement.valid_from, agreement.valid_to = valid_from, valid_to
    agreement.save()
    return agreement


def test_overlapping_agreements_bill_rune_s_november_once(priced):
    """A1 01.01–20.11.2026 and A2 from 15.11.2026, both «senteret følger opp», saved straight to the
    table as older rows may be: Rune, active all November, is 30 patient-days and PO-77 30 device-days
    — 1 212 kr follow-up and 896 kr licence, not 36 days (1 454,40 kr and 1 075,20 kr)."""
    gjerdrum_agreement(priced, datetime.date(2026, 1, 1), datetime.date(2026, 11, 20))
    Agreement(centre=priced.centres.ovre, municipality=priced.m.gjerdrum, follow_up_by="centre",
              valid_from=datetime.date(2026, 11, 15)).save()  # fmt: skip
    assert gjerdrum_lines(priced) == {
        ("follow_up", ""): (30, 121_200),
        ("licence", ""): (30, 89_600),
        ("equipment", "pulsoksymeter"): (30, 10_000),
    }


def test_equipment_is_billed_for_the_days_the_agreement_covers_only(priced):
    """Gjerdrum's agreement ends 01.11.2026 and PO-77 (pulsoksymeter, 100 kr a month) is out all
    November: 1 device-day, 3,33 kr — as Rune's one patient-day — not 30 (100 kr). The koordinator's
    basis counts the same day."""
    gjerdrum_agreement(priced, datetime.date(2024, 1, 1), datetime.date(2026, 11, 1))
    assert gjerdrum_lines(priced) == {
        ("follow_up", ""): (1, 4_040),
        ("licence", ""): (1, 2_987),
        ("equipment", "pulsoksymeter"): (1, 333),
    }
    basis = coordinator_basis(priced.u.coordinator, priced.centres.ovre, priced.m.gjerdrum, NOV)
    assert [(b.patient, [days for _type, _serial, days in b.devices]) for b in basis] == [(priced.p.gjerdrum, [1])]
    assert basis.adds_up


@pytest.fixture
def clock(monkeypatch):
    """The date the services call today, set by the test as it walks through November."""
    day = {"today": datetime.date(2026, 11, 1)}
    real = timezone.localdate
    monkeypatch.setattr(timezone, "localdate", lambda value=None, timezone=None: real(value, timezone) if value else
                        day["today"])  # fmt: skip
    return day


def _ok(response, status=201) -> dict:
    assert response.status_code == status, response.content
    return response.json()


def _granted_and_consented(client, national_id: str) -> Patient:
    """Gjerdrum grants a person Agder follows up (its own record, a «mulig flytting» notice to
    Grimstad) and registers the samtykke, through the API."""
    body = {"national_id": national_id, "name": "Tove Flytter", "municipality": "3230", "referrer": "hospital",
            "diagnoses": ["kols"], "reason": "Hyppige innleggelser."}  # fmt: skip
    referral = _ok(client.post("/api/v1/referrals/", body, format="json"))["id"]
    criteria = {code: {"answer": "yes"} for code in ASSESSMENT_CRITERIA}
    _ok(client.post(f"/api/v1/referrals/{referral}/assessment/", {"criteria": criteria}, format="json"))
    decision = {"outcome": "granted", "reason": "Oppfyller kriteriene.", "period_to": "2027-05-01",
                "evaluation_date": "2027-02-01"}  # fmt: skip
    own = Patient.objects.get(pk=_ok(client.post(f"/api/v1/referrals/{referral}/decision/", decision,
                                                 format="json"))["patient_id"])  # fmt: skip
    consent = {"given_by": "patient", "method": "written", "given_on": "2026-11-01"}
    _ok(client.post(f"/api/v1/patients/{own.pk}/consent/", consent, format="json"))
    return own


def test_a_move_that_merges_a_started_record_is_one_oppstart(priced, api, clock):
    """Oppstart fee 500 kr. Gjerdrum's own record of Tove starts 03.11; Agder accepts the move on
    20.11 and the moved record carries that forløp on with a `started` row in Gjerdrum: one oppstart,
    500 kr, not 1 000 kr. Her days are Gjerdrum's from the 3rd all the same (28 patient-days)."""
    PriceModel.objects.filter(centre=priced.centres.ovre).update(start_fee_ore=50_000)
    client = api(priced.u.coordinator)
    own = _granted_and_consented(client, priced.p.grimstad.national_id)
    clock["today"] = datetime.date(2026, 11, 3)
    _ok(client.post(f"/api/v1/patients/{own.pk}/start/", {"own_phone": True}, format="json"))
    clock["today"] = datetime.date(2026, 11, 20)
    moved = move_accept(notice=MoveNotice.objects.get(patient=priced.p.grimstad), user=priced.u.nurse_agder)
    assert moved.status_changes.filter(event="started", municipality=priced.m.gjerdrum).count() == 1
    lines = gjerdrum_lines(priced)
    assert lines[("start_fee", "")] == (1, 50_000)
    assert lines[("follow_up", "")][0] == 30 + 28  # Rune's 30 days and Tove's 3.–30. November
