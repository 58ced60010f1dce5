"""Table tests of the allocation's arithmetic (billing.calculation), without a database: the seed's
worked case, pro-rating, paused days, a move, the base share's split to the øre."""

import datetime
from decimal import Decimal
from fractions import Fraction
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.calculation import (
    Basis,
    Cover,
    Month,
    MonthError,
    StatusRow,
    base_weights,
    day_counts,
    largest_remainder,
    month_lines,
    round_half_up,
    segments,
)
from tenants.norwegian import kr

NOV = Month(datetime.date(2026, 11, 1))  # 30 days
GJERDRUM, NANNESTAD, NORDRE_FOLLO, ULLENSAKER = 3230, 3238, 3207, 3209
ALWAYS = (datetime.date.min, datetime.date.max)
COVER = Cover({
    GJERDRUM: [(*ALWAYS, "centre")], NANNESTAD: [(*ALWAYS, "centre")], ULLENSAKER: [(*ALWAYS, "centre")],
    NORDRE_FOLLO: [(*ALWAYS, "municipality")],
})  # fmt: skip


def model(**overrides):
    values = {
        "base_ore": 0, "base_key": "equal", "base_equal_percent": 100, "host_in_base": True,
        "own_follow_up_in_base": True, "follow_up_ore": 121_200, "paused_percent": 0, "licence_ore": 89_600,
        "equipment_ore": {}, "start_fee_ore": 0,
    }  # fmt: skip
    return SimpleNamespace(**{**values, **overrides})


def d(day: int, month: int = 11) -> datetime.date:
    return datetime.date(2026, month, day)


def lines_for(rows, price=None, month=NOV, **basis):
    counts = day_counts(segments(rows, month), COVER, month)
    b = Basis(month=month, counts=counts, device_days=basis.get("device_days", {}), starts=basis.get("starts", {}),
              base_members=basis.get("members", []), populations=basis.get("populations", {}))  # fmt: skip
    return month_lines(price or model(), b, kr)


def amounts(lines) -> dict:
    out = {}
    for line in lines:
        key = (line.municipality_id, line.component)
        out[key] = out.get(key, 0) + line.amount_ore
    return out


def test_it_bills_the_seeds_worked_case_a_full_month_at_2108_kr():
    """The reference case, «Rune»: follow-up 1 212 kr + licence and equipment 896 kr = 2 108 kr a month."""
    lines = lines_for([StatusRow.on("rune", d(3, 5), "started", GJERDRUM)])
    assert amounts(lines) == {(GJERDRUM, "follow_up"): 121_200, (GJERDRUM, "licence"): 89_600}
    assert sum(line.amount_ore for line in lines) == 210_800
    follow_up = next(line for line in lines if line.component == "follow_up")
    assert (follow_up.quantity, follow_up.unit, follow_up.divisor) == (Decimal(30), "pasientdøgn", 30)


def test_it_bills_half_a_month_for_a_start_on_the_16th_of_a_30_day_month():
    lines = lines_for([StatusRow.on("p", d(16), "started", GJERDRUM)])
    assert amounts(lines) == {(GJERDRUM, "follow_up"): 60_600, (GJERDRUM, "licence"): 44_800}


def test_it_counts_an_ended_forlop_up_to_the_day_before_the_end():
    lines = lines_for([StatusRow.on("p", d(1, 10), "started", GJERDRUM), StatusRow.on("p", d(11), "ended", GJERDRUM)])
    assert amounts(lines)[(GJERDRUM, "follow_up")] == 40_400  # 10 of 30 days


@pytest.mark.parametrize(("percent", "follow_up"), [(0, 60_600), (50, 90_900), (100, 121_200)])
def test_it_counts_paused_days_at_the_models_share(percent, follow_up):
    rows = [StatusRow.on("p", d(1, 9), "started", GJERDRUM), StatusRow.on("p", d(16), "paused", GJERDRUM)]
    lines = lines_for(rows, model(paused_percent=percent))
    assert amounts(lines)[(GJERDRUM, "follow_up")] == follow_up
    assert amounts(lines)[(GJERDRUM, "licence")] == 89_600  # the licence runs through a pause


def test_it_splits_a_move_between_kommuner_at_the_move_date():
    """patients' move rule: the old forløp ends on the move date, the new kommune starts it again."""
    rows = [
        StatusRow.on("p", d(1, 6), "started", GJERDRUM),
        StatusRow.on("p", d(11), "ended", GJERDRUM),
        StatusRow.on("p", d(11), "moved", NANNESTAD),
        StatusRow.on("p", d(11), "started", NANNESTAD),
    ]
    got = amounts(lines_for(rows))
    assert got[(GJERDRUM, "follow_up")] == 40_400  # 1–10 November
    assert got[(NANNESTAD, "follow_up")] == 80_800  # 11–30 November
    assert got[(GJERDRUM, "follow_up")] + got[(NANNESTAD, "follow_up")] == 121_200


def test_overlapping_agreements_of_one_kommune_count_each_day_once():
    """A1 01.01–20.11.2026 and A2 from 15.11.2026, both «senteret følger opp»: a patient active all
    November is 30 patient-days, not 36 — 1 212 kr follow-up and 896 kr licence, not 1 454,40 and 1 075,20."""
    cover = Cover({GJERDRUM: [(d(1, 1), d(21), "centre"), (d(15), datetime.date.max, "centre")]})
    counts = day_counts(segments([StatusRow.on("p", d(3, 5), "started", GJERDRUM)], NOV), cover, NOV)
    assert (counts[GJERDRUM].active_centre, counts[GJERDRUM].active_any) == (30, 30)
    basis = Basis(month=NOV, counts=counts, device_days={}, starts={}, base_members=[], populations={})
    assert amounts(month_lines(model(), basis, kr)) == {(GJERDRUM, "follow_up"): 121_200, (GJERDRUM, "licence"): 89_600}
    # A day two agreements cover is the earlier one's: who follows up changes where the earlier ends.
    mixed = Cover({GJERDRUM: [(d(15), datetime.date.max, "municipality"), (d(1, 1), d(21), "centre")]})
    assert mixed.days(GJERDRUM, NOV.first, NOV.end) == {"centre": 20, "municipality": 10}
    assert (mixed.follow_up_on(GJERDRUM, d(20)), mixed.follow_up_on(GJERDRUM, d(21))) == ("centre", "municipality")
    assert cover.whole_month(NOV) == {GJERDRUM: "centre"}


def test_an_own_follow_up_kommune_pays_licence_and_equipment_but_no_follow_up():
    rows = [StatusRow.on("v", d(1, 1), "started", NORDRE_FOLLO)]
    lines = lines_for(rows, model(equipment_ore={"vekt": 15_000}), device_days={(NORDRE_FOLLO, "vekt"): 30})
    assert amounts(lines) == {(NORDRE_FOLLO, "licence"): 89_600, (NORDRE_FOLLO, "equipment"): 15_000}


def test_equipment_is_pro_rated_by_loan_days_per_device_type():
    price = model(follow_up_ore=0, licence_ore=0, equipment_ore={"pulsoksymeter": 10_000, "nettbrett": 20_000})
    lines = lines_for([], price, device_days={(GJERDRUM, "pulsoksymeter"): 15, (GJERDRUM, "nettbrett"): 45})
    assert {line.item: line.amount_ore for line in lines} == {"pulsoksymeter": 5_000, "nettbrett": 30_000}


def test_the_oppstart_fee_is_charged_once_per_start_in_the_month():
    lines = lines_for([], model(follow_up_ore=0, licence_ore=0, start_fee_ore=50_000), starts={GJERDRUM: 3})
    assert amounts(lines) == {(GJERDRUM, "start_fee"): 150_000}


def test_rounding_is_once_per_line_half_up():
    # 7 patient-days of 31 at 1 212 kr: 273.677… kr → 273.68 kr; two patients round together, not each.
    october = Month(datetime.date(2026, 10, 1))
    rows = [StatusRow.on("a", d(25, 10), "started", GJERDRUM), StatusRow.on("b", d(25, 10), "started", GJERDRUM)]
    got = amounts(lines_for(rows, model(licence_ore=0), month=october))
    assert got[(GJERDRUM, "follow_up")] == round_half_up(Fraction(121_200 * 14, 31)) == 54_735
    assert round_half_up(Fraction(1, 2)) == 1 and round_half_up(Fraction(-1, 2)) == -1


def test_the_eksommune_sunnmore_mixed_key_gives_alesund_43_287_percent():
    """The eKommune Sunnmøre key: 30 % equally over 8, 70 % by population; Ålesund 47 199 of 83 566 → 43.287 %."""
    others = [83_566 - 47_199 - 6 * 5_000] + [5_000] * 6
    populations = {1: (47_199, 2024), **{i + 2: (p, 2024) for i, p in enumerate(others)}}
    basis = Basis(NOV, {}, {}, {}, list(populations), populations)
    weights = base_weights(model(base_key="mixed", base_equal_percent=30), basis)
    assert round(float(weights[1]) * 100, 3) == 43.287
    assert sum(weights.values()) == 1


@pytest.mark.parametrize("key", ["equal", "population", "mixed"])
def test_base_share_lines_sum_exactly_to_the_base(key):
    populations = {GJERDRUM: (7_400, 2026), NANNESTAD: (15_400, 2026), ULLENSAKER: (42_500, 2026)}
    price = model(base_ore=10_000_000, base_key=key, base_equal_percent=30, follow_up_ore=0, licence_ore=0)
    lines = lines_for([], price, members=list(populations), populations=populations)
    assert sum(line.amount_ore for line in lines) == 10_000_000
    assert len(lines) == 3
    if key == "equal":
        assert sorted(line.amount_ore for line in lines) == [3_333_333, 3_333_333, 3_333_334]


@settings(max_examples=300, deadline=None)
@given(
    base=st.integers(min_value=0, max_value=10**10),
    populations=st.lists(st.integers(min_value=0, max_value=1_000_000), min_size=1, max_size=40),
    equal_percent=st.integers(min_value=0, max_value=100),
    key=st.sampled_from(["equal", "population", "mixed"]),
)
def test_property_the_base_share_never_misses_an_ore(base, populations, equal_percent, key):
    pops = {i: (p, 2026) for i, p in enumerate(populations)}
    basis = Basis(NOV, {}, {}, {}, list(pops), pops)
    weights = base_weights(model(base_key=key, base_equal_percent=equal_percent), basis)
    parts = largest_remainder(base, weights)
    assert sum(parts.values()) == base
    for key_, part in parts.items():  # each part is its exact share rounded down or up, never further
        exact = Fraction(base) * weights[key_]
        assert exact - 1 < part < exact + 1


def test_a_month_as_text():
    assert str(Month.parse("2026-02")) == "2026-02" and Month.parse("2028-02").days == 29
    with pytest.raises(MonthError, match="ÅÅÅÅ-MM"):
        Month.parse("2026-13")
    for outside in ("0001-01", "1999-12", "2101-01", "9999-12"):  # 0001-01's previous, 9999-12's end overflow
        with pytest.raises(MonthError, match="fra 2000-01 til 2100-12"):
            Month.parse(outside)
    assert (
        Month.parse("2100-12").end == datetime.date(2101, 1, 1) and str(Month.parse("2000-01").previous()) == "1999-12"
    )
