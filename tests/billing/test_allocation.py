"""The allocation from the rows in the database: status history and loans, the price model in effect,
locking (a locked month never changes), adjustments in the next open month, and who sees what."""

import datetime

import pytest
from django.http import Http404

from billing.calculation import Month
from billing.models import LockedLine, PriceModel
from billing.selectors import allocation_for, finance_view_for, finance_views, visible_allocation
from billing.services import BillingRefused, month_lock, price_model_save
from patients.models import Device, DeviceLoan, StatusChange
from tenants.reference import population_set
from tests.factories import MembershipFactory, UserFactory

SEPT, OCT, NOV = (Month(datetime.date(2026, m, 1)) for m in (9, 10, 11))


@pytest.fixture
def priced(world):
    PriceModel.objects.create(
        centre=world.centres.ovre, valid_from=datetime.date(2026, 1, 1), follow_up_ore=121_200, licence_ore=59_600,
        equipment_ore={"pulsoksymeter": 10_000, "nettbrett": 20_000}, base_ore=3_000_000, base_key="population",
    )  # fmt: skip
    return world


def start(world, patient, day, event="started"):
    return StatusChange.objects.create(
        patient=patient, municipality=patient.municipality, event=event, effective_date=day, by=world.u.nurse
    )


def lend(world, patient, device_type, serial, lent_on, returned_on=None):
    device = Device.objects.create(centre=world.centres.ovre, type=device_type, serial=serial, state="lent")
    return DeviceLoan.objects.create(device=device, patient=patient, municipality=patient.municipality,
                                     lent_on=lent_on, returned_on=returned_on, lent_by=world.u.nurse)  # fmt: skip


def totals(allocation) -> dict:
    return {m.municipality.name: m.total_ore for m in allocation.municipalities}


def lines(allocation, name) -> dict:
    group = next(m for m in allocation.municipalities if m.municipality.name == name)
    return {(line.component, line.item): line.amount_ore for line in group.lines}


def test_runes_month_is_2108_kr_with_his_kit(priced):
    """The reference case: 1 212 kr follow-up + 896 kr licence and equipment (596 + 100 + 200 for a KOLS kit)."""
    start(priced, priced.p.gjerdrum, datetime.date(2026, 5, 3))
    lend(priced, priced.p.gjerdrum, "pulsoksymeter", "PO-1", datetime.date(2026, 5, 3))
    lend(priced, priced.p.gjerdrum, "nettbrett", "NB-1", datetime.date(2026, 5, 3))
    got = lines(allocation_for(priced.centres.ovre, OCT), "Gjerdrum")
    patient_part = {k: v for k, v in got.items() if k[0] != "base"}
    assert patient_part == {
        ("follow_up", ""): 121_200, ("licence", ""): 59_600, ("equipment", "pulsoksymeter"): 10_000,
        ("equipment", "nettbrett"): 20_000,
    }  # fmt: skip
    assert sum(patient_part.values()) == 210_800


def test_the_month_adds_up_to_the_ore_and_the_base_to_the_base(priced):
    for patient, day in [(priced.p.gjerdrum, 3), (priced.p.nannestad, 16), (priced.p.ullensaker, 9)]:
        start(priced, patient, datetime.date(2026, 10, day))
    allocation = allocation_for(priced.centres.ovre, OCT)
    assert allocation.total_ore == sum(m.total_ore for m in allocation.municipalities)
    for group in allocation.municipalities:
        assert group.total_ore == sum(line.amount_ore for line in group.lines)
    assert sum(line.amount_ore for line in allocation.lines if line.component == "base") == 3_000_000
    # Nordre Follo follows up its own patients: a base share (the default setting), no follow-up line.
    assert ("follow_up", "") not in lines(allocation, "Nordre Follo")
    # Agder's kommune is not Øvre's to bill.
    assert "Grimstad" not in totals(allocation)


def test_a_past_month_computes_the_same_tomorrow_from_the_rows_alone(priced):
    start(priced, priced.p.gjerdrum, datetime.date(2026, 9, 10))
    before = allocation_for(priced.centres.ovre, SEPT).lines
    # Today's state changes (a pause after the month) do not move September.
    start(priced, priced.p.gjerdrum, datetime.date(2026, 10, 20), event="paused")
    assert allocation_for(priced.centres.ovre, SEPT).lines == before


def test_a_locked_month_never_changes_and_the_next_open_month_carries_the_adjustment(priced):
    start(priced, priced.p.gjerdrum, datetime.date(2026, 8, 1))
    locked = month_lock(view=finance_view_for(priced.u.finance), month=OCT, user=priced.u.finance)
    sent = [(line.component, line.amount_ore) for line in allocation_for(priced.centres.ovre, OCT).lines]
    assert allocation_for(priced.centres.ovre, OCT).status == "locked"
    assert locked.total_ore == allocation_for(priced.centres.ovre, OCT).total_ore

    # A back-dated end registered after the lock: ended 16 October (15 of 31 days were active).
    start(priced, priced.p.gjerdrum, datetime.date(2026, 10, 16), event="ended")
    assert [(line.component, line.amount_ore) for line in allocation_for(priced.centres.ovre, OCT).lines] == sent

    november = allocation_for(priced.centres.ovre, NOV)
    adjustments = [line for line in november.lines if line.component == "adjustment"]
    by_component = {line.corrects: line for line in adjustments}
    assert set(by_component) == {"follow_up", "licence"}
    # 16 of 31 days were billed too much: −1 212 × 16/31 = −625.55 kr
    assert by_component["follow_up"].amount_ore == -62_555
    assert by_component["follow_up"].reference_month == OCT.first
    assert "2026-10" in by_component["follow_up"].explanation
    # Gjerdrum has no November days: the correction is what it owes.
    assert not [line for line in november.lines if line.component == "follow_up" and line.municipality_id ==
                priced.m.gjerdrum.pk]  # fmt: skip


def test_an_adjustment_locked_once_is_not_carried_again(priced):
    start(priced, priced.p.gjerdrum, datetime.date(2026, 8, 1))
    view = finance_view_for(priced.u.finance)
    month_lock(view=view, month=SEPT, user=priced.u.finance)
    start(priced, priced.p.gjerdrum, datetime.date(2026, 9, 21), event="ended")  # back-dated into September
    october = allocation_for(priced.centres.ovre, OCT)
    assert [line.corrects for line in october.lines if line.component == "adjustment"] == ["follow_up", "licence"]
    month_lock(view=view, month=OCT, user=priced.u.finance)
    assert LockedLine.objects.filter(reference_month=SEPT.first).count() == 2
    november = allocation_for(priced.centres.ovre, NOV)
    assert not [line for line in november.lines if line.component == "adjustment"]


def test_a_corrected_loan_after_the_lock_becomes_an_adjustment(priced):
    start(priced, priced.p.gjerdrum, datetime.date(2026, 8, 1))
    loan = lend(priced, priced.p.gjerdrum, "pulsoksymeter", "PO-9", datetime.date(2026, 8, 1))
    month_lock(view=finance_view_for(priced.u.finance), month=OCT, user=priced.u.finance)
    DeviceLoan.objects.filter(pk=loan.pk).update(returned_on=datetime.date(2026, 10, 31 - 15))
    adjustment = next(line for line in allocation_for(priced.centres.ovre, NOV).lines if line.corrects == "equipment")
    assert adjustment.amount_ore == -4_839  # 15 of 31 device-days of 100 kr fewer


def test_a_corrected_population_after_the_lock_shifts_the_base_share_by_an_adjustment(priced):
    """The innbyggertall are tenants' reference data now; a figure corrected after a month was locked
    still makes the next open month carry the base share's difference, which adds up to nothing."""
    admin, m = priced.u.admin, priced.m
    for municipality, figure in ((m.ullensaker, 42_000), (m.gjerdrum, 7_400), (m.nannestad, 15_000),
                                 (m.nordrefollo, 62_000)):  # fmt: skip
        population_set(municipality=municipality, year=2026, population=figure, user=admin)
    month_lock(view=finance_view_for(priced.u.finance), month=OCT, user=priced.u.finance)
    november = allocation_for(priced.centres.ovre, NOV)
    assert not [line for line in november.lines if line.component == "adjustment"]

    population_set(municipality=m.gjerdrum, year=2026, population=14_800, user=admin)  # SSB's figure was twice
    adjustments = [line for line in allocation_for(priced.centres.ovre, NOV).lines if line.component == "adjustment"]
    by_kommune = {line.municipality_id: line.amount_ore for line in adjustments if line.corrects == "base"}
    assert set(by_kommune) == {m.ullensaker.pk, m.gjerdrum.pk, m.nannestad.pk, m.nordrefollo.pk}
    assert by_kommune[m.gjerdrum.pk] > 0 and all(v < 0 for k, v in by_kommune.items() if k != m.gjerdrum.pk)
    assert sum(by_kommune.values()) == 0  # the base itself did not change, only its split
    assert all(line.reference_month == OCT.first for line in adjustments)


def test_locking_refuses_what_it_must(priced):
    view = finance_view_for(priced.u.finance)
    with pytest.raises(BillingRefused, match="ikke over"):
        month_lock(view=view, month=Month.of(datetime.date.today()), user=priced.u.finance)
    month_lock(view=view, month=OCT, user=priced.u.finance)
    with pytest.raises(BillingRefused, match="allerede låst"):
        month_lock(view=view, month=OCT, user=priced.u.finance)
    with pytest.raises(BillingRefused, match="Ingen prismodell"):
        month_lock(view=view, month=Month(datetime.date(2025, 6, 1)), user=priced.u.finance)
    with pytest.raises(BillingRefused, match="låst"):
        price_model_save(centre=priced.centres.ovre, user=priced.u.admin, valid_from=datetime.date(2026, 10, 1),
                         values={"follow_up_ore": 1})  # fmt: skip


def test_a_municipal_finance_officer_sees_only_their_own_kommune_and_cannot_lock(priced):
    okonomi = UserFactory(username="okonomi_gjerdrum")
    MembershipFactory(user=okonomi, role="finance", municipality=priced.m.gjerdrum)
    start(priced, priced.p.gjerdrum, datetime.date(2026, 10, 1))
    start(priced, priced.p.nannestad, datetime.date(2026, 10, 1))
    view = finance_view_for(okonomi)
    assert view.centre == priced.centres.ovre
    assert list(totals(visible_allocation(view, OCT))) == ["Gjerdrum"]
    with pytest.raises(BillingRefused, match="Bare senterets"):
        month_lock(view=view, month=OCT, user=okonomi)


@pytest.mark.parametrize("who", ["nurse", "coordinator", "gp", "admin", "nurse_agder"])
def test_everyone_else_has_no_finance_view(priced, who):
    assert finance_views(getattr(priced.u, who)) == []
    with pytest.raises(Http404):
        finance_view_for(getattr(priced.u, who))
