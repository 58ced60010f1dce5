"""The koordinator's basis is a breakdown of the very lines a kommune is billed: its patients' days,
device-days and shares of the amounts add up to the lines (a property test on the arithmetic, and
one on the rows in the database), and a locked month's basis is its stored lines with the
adjustments of later months that name it."""

import datetime
from decimal import Decimal
from fractions import Fraction

from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.calculation import (
    Basis,
    Cover,
    Month,
    PatientFigures,
    StatusRow,
    breakdown,
    day_counts,
    licence_days,
    month_lines,
    segments,
)
from billing.selectors import allocation_for, coordinator_basis, finance_view_for
from billing.services import month_lock
from patients.models import Device, DeviceLoan, StatusChange
from tenants.norwegian import kr
from tests.billing import test_pages as pages
from tests.billing.test_calculation import model

priced, today = pages.priced, pages.today  # Øvre's price model, Rune (Gjerdrum) and Jens; today 23 November 2026
NOV = Month(datetime.date(2026, 11, 1))
OCT = Month(datetime.date(2026, 10, 1))
GJERDRUM, NANNESTAD, NORDRE_FOLLO = 3230, 3238, 3207
EVENTS = ["started", "paused", "resumed", "ended", "moved"]
TYPES = ["pulsoksymeter", "nettbrett"]
# Gjerdrum followed up all month, Nannestad's agreement starting on the 11th, Nordre Follo its own.
COVER = Cover({
    GJERDRUM: [(datetime.date.min, datetime.date.max, "centre")],
    NANNESTAD: [(datetime.date(2026, 11, 11), datetime.date.max, "centre")],
    NORDRE_FOLLO: [(datetime.date.min, datetime.date.max, "municipality")],
})  # fmt: skip

history = st.lists(
    st.tuples(st.integers(-40, 29), st.sampled_from(EVENTS), st.sampled_from(list(COVER.periods))), max_size=6
)
patients = st.dictionaries(st.sampled_from([f"p{i}" for i in range(8)]), history, max_size=8)
loans = st.lists(
    st.tuples(st.sampled_from([f"p{i}" for i in range(8)]), st.sampled_from(list(COVER.periods)),
              st.sampled_from(TYPES), st.integers(1, 30)),
    max_size=10,
)  # fmt: skip
starts = st.dictionaries(st.tuples(st.sampled_from([f"p{i}" for i in range(8)]), st.sampled_from(list(COVER.periods))),
                         st.integers(1, 2), max_size=4)  # fmt: skip
prices = st.builds(
    model,
    follow_up_ore=st.integers(0, 200_000), licence_ore=st.integers(0, 100_000), paused_percent=st.integers(0, 100),
    start_fee_ore=st.integers(0, 50_000),
    equipment_ore=st.fixed_dictionaries({t: st.integers(0, 30_000) for t in TYPES}),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(patients, loans, starts, prices)
def test_a_kommunes_patients_add_up_to_its_lines(histories, loan_rows, start_counts, price):
    """The lines the finance way (counts per kommune) and each kommune's patients (the same walk per
    patient): patient-days, device-days, oppstarter and amounts sum to the lines exactly."""
    rows = sorted(
        StatusRow.on(pid, NOV.first + datetime.timedelta(days=offset), event, kommune)
        for pid, events in histories.items()
        for offset, event, kommune in events
    )
    device_days: dict = {}
    for _pid, kommune, device_type, days in loan_rows:
        device_days[(kommune, device_type)] = device_days.get((kommune, device_type), 0) + days
    kommune_starts: dict = {}
    for (_pid, kommune), count in start_counts.items():
        kommune_starts[kommune] = kommune_starts.get(kommune, 0) + count
    segs = segments(rows, NOV)
    basis = Basis(NOV, day_counts(segs, COVER, NOV), device_days, kommune_starts, [], {})
    lines = month_lines(price, basis, kr)
    per_patient = day_counts(segs, COVER, NOV, by_patient=True)

    for kommune in COVER.periods:
        figures: dict = {}
        for (m, pid), count in per_patient.items():
            if m == kommune:
                figures.setdefault(pid, PatientFigures()).counts = count
        for pid, m, device_type, days in loan_rows:
            if m == kommune:
                entry = figures.setdefault(pid, PatientFigures())
                entry.device_days[device_type] = entry.device_days.get(device_type, 0) + days
        for (pid, m), count in start_counts.items():
            if m == kommune:
                figures.setdefault(pid, PatientFigures()).starts += count
        own = [line for line in lines if line.municipality_id == kommune]
        split = breakdown(own, figures, price.paused_percent)
        for line in split.lines:
            assert split.adds_up(line), line
        assert sum(split.patient_amount_ore(pid) for pid in figures) == sum(line.amount_ore for line in split.lines)
        licence = next((line for line in own if line.component == "licence"), None)
        patient_days = sum(licence_days(f.counts) for f in figures.values())
        assert (licence.quantity if licence else 0) == (patient_days if price.licence_ore else 0)
        for device_type in TYPES:
            line = next((x for x in own if x.component == "equipment" and x.item == device_type), None)
            days = sum(f.device_days.get(device_type, 0) for f in figures.values())
            assert (line.quantity if line else 0) == (days if price.equipment_ore[device_type] else 0)


def test_a_patient_s_share_is_the_lines_amount_split_to_the_ore():
    """Three patients of 10 days each on a line of 1 000,00 kr: 333,34 + 333,33 + 333,33."""
    rows = [StatusRow.on(p, datetime.date(2026, 11, 21), "started", GJERDRUM) for p in ("a", "b", "c")]
    segs = segments(rows, NOV)
    price = model(follow_up_ore=100_000, licence_ore=0)
    lines = month_lines(price, Basis(NOV, day_counts(segs, COVER, NOV), {}, {}, [], {}), kr)
    figures = {pid: PatientFigures(counts=c) for (_m, pid), c in day_counts(segs, COVER, NOV, by_patient=True).items()}
    split = breakdown(lines, figures, 0)
    assert lines[0].amount_ore == 100_000
    assert sorted(split.patient_amount_ore(p) for p in "abc") == [33_333, 33_333, 33_334]
    assert split.quantity(lines[0]) == Fraction(30)


# --- against the database -------------------------------------------------------------------------

db_events = st.lists(st.tuples(st.integers(-10, 30), st.sampled_from(EVENTS)), max_size=4)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.tuples(db_events, db_events), st.lists(st.tuples(st.integers(-10, 30), st.integers(0, 40)), max_size=3))
def test_the_koordinators_basis_adds_up_to_gjerdrums_lines(priced, histories, loan_spans):
    """Generated October status histories (Rune, and Jens billed to Gjerdrum though he lives in
    Nannestad now: counted, not named) and loans: the basis sums to Gjerdrum's lines of the month."""
    with transaction.atomic():
        for patient, events in zip((priced.p.gjerdrum, priced.p.nannestad), histories, strict=True):
            for offset, event in events:
                StatusChange.objects.create(
                    patient=patient, municipality=priced.m.gjerdrum, event=event, by=priced.u.nurse,
                    effective_date=OCT.first + datetime.timedelta(days=offset),
                )  # fmt: skip
        for i, (offset, length) in enumerate(loan_spans):
            device = Device.objects.create(centre=priced.centres.ovre, type="pulsoksymeter", serial=f"G-{i}")
            lent_on = OCT.first + datetime.timedelta(days=offset)
            DeviceLoan.objects.create(device=device, patient=priced.p.gjerdrum, municipality=priced.m.gjerdrum,
                                      lent_on=lent_on, returned_on=lent_on + datetime.timedelta(days=length),
                                      lent_by=priced.u.nurse)  # fmt: skip
        basis = coordinator_basis(priced.u.coordinator, priced.centres.ovre, priced.m.gjerdrum, OCT)
        lines = [
            line
            for line in allocation_for(priced.centres.ovre, OCT).lines
            if line.municipality_id == priced.m.gjerdrum.pk and line.component != "base"
        ]
        assert basis.breakdown.lines == lines
        assert basis.adds_up
        rows = list(basis) + ([basis.others] if basis.others else [])
        assert sum(row.amount_ore for row in rows) == sum(line.amount_ore for line in lines)
        assert [b.patient for b in basis] == [priced.p.gjerdrum] * len(basis)
        licence = next((line for line in lines if line.component == "licence"), None)
        assert sum(r.active_days + r.paused_days for r in rows) == (licence.quantity if licence else 0)
        devices = next((line for line in lines if line.component == "equipment"), None)
        device_days = sum(days for b in basis for _label, _serial, days in b.devices)
        assert device_days == (devices.quantity if devices else 0)
        transaction.set_rollback(True)


def test_a_locked_months_basis_is_its_stored_lines_with_the_adjustment_naming_it(priced, login):
    """October locked at 31 days of Rune; an end on 17 October registered afterwards: the basis shows
    the lines as locked (31 days), November's «Korrigering for oktober 2026» beside them, and today's
    16 days of Rune adding up to the two together."""
    month_lock(view=finance_view_for(priced.u.finance), month=OCT, user=priced.u.finance)
    pages.start(priced, priced.p.gjerdrum, datetime.date(2026, 10, 17), "ended")
    basis = coordinator_basis(priced.u.coordinator, priced.centres.ovre, priced.m.gjerdrum, OCT)
    assert basis.status == "locked"
    assert {(line.component, line.quantity) for line in basis.sent if line.component != "equipment"} == {
        ("follow_up", Decimal(31)),
        ("licence", Decimal(31)),
    }
    assert {(line.corrects, line.quantity, month) for line, month, _status in basis.adjustments} == {
        ("follow_up", Decimal(-15), NOV),
        ("licence", Decimal(-15), NOV),
    }
    assert [(b.patient, b.active_days) for b in basis] == [(priced.p.gjerdrum, 16)]
    assert basis.adds_up
    body = login(priced.u.coordinator).get("/billing/2026-10/3230/grunnlag/").content.decode()
    assert "Korrigering for oktober 2026: Oppfølging" in body and "november 2026 (utkast)" in body
    assert '<td class="amount">31 pasientdøgn</td>' in body and "Alt stemmer." in body
