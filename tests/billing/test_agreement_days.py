"""A month bills a kommune for the days its agreement covers, each once: overlapping agreements of
one kommune (rows saved before the service refused them) count a day once, and a loan's days are
cut at the agreement as the patient-days are."""

import datetime

from billing.calculation import Month
from billing.selectors import allocation_for, coordinator_basis
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
