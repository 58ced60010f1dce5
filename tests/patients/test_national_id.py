import datetime

import pytest

from patients.national_id import IdKind, InvalidNationalId, is_d_number, mask, parse


@pytest.mark.parametrize(
    ("value", "kind", "birth"),
    [
        ("15108695088", IdKind.FNR, datetime.date(1986, 10, 15)),  # real format, valid
        ("01814500183", IdKind.SYNTHETIC, datetime.date(1945, 1, 1)),  # Tenor: month + 80
        ("15865200045", IdKind.SYNTHETIC, datetime.date(1952, 6, 15)),
        ("31923800088", IdKind.SYNTHETIC, datetime.date(1938, 12, 31)),
        ("41814510059", IdKind.SYNTHETIC, datetime.date(1945, 1, 1)),  # D-nummer + Tenor
    ],
)
def test_it_accepts_valid_numbers_and_derives_the_birth_date(value, kind, birth):
    parsed = parse(value, allow_synthetic=True)
    assert parsed.kind == kind
    assert parsed.birth_date == birth


def test_it_recognises_a_d_number():
    # D-nummer: day + 40. Built from 15108695088's date with a fresh individual number.
    from tests.factories import _K1, _K2, _control

    base = "551086950"
    k1 = _control(base, _K1)
    k2 = _control(base + str(k1), _K2)
    parsed = parse(f"{base}{k1}{k2}", allow_synthetic=False)
    assert parsed.kind == IdKind.DNR
    assert parsed.birth_date == datetime.date(1986, 10, 15)


@pytest.mark.parametrize(
    ("value", "d_number"),
    [("15108695088", False), ("01814500183", False), ("41814510059", True), ("31923800088", False)],
)
def test_a_d_number_is_one_whose_first_digit_is_4_to_7_a_synthetic_one_included(value, d_number):
    assert is_d_number(value) is d_number


def test_it_recognises_nav_synthetic_month_plus_40():
    from tests.factories import synthetic_national_id

    value = synthetic_national_id(datetime.date(1960, 3, 9), month_offset=40)
    parsed = parse(value, allow_synthetic=True)
    assert parsed.kind == IdKind.SYNTHETIC
    assert parsed.birth_date == datetime.date(1960, 3, 9)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("15108695077", "Kontrollsifrene"),  # wrong K2
        ("15108695188", "Kontrollsifrene"),  # wrong K1 (remainder outside 0–3)
        ("1510869508", "11 sifre"),  # too short
        ("151086950888", "11 sifre"),  # too long
        ("1510869508x", "11 sifre"),
        ("", "11 sifre"),
        ("81108695088", "FH-nummer"),
    ],
)
def test_it_rejects_invalid_numbers_with_a_reason(value, message):
    with pytest.raises(InvalidNationalId, match=message):
        parse(value, allow_synthetic=True)


def test_it_names_an_h_number_as_one_where_test_numbers_are_not_allowed():
    """Month + 40 is a hospital's H-nummer (hjelpenummer) outside test data: no identity for a
    kommune's vedtak, and said so, not called a synthetic test number."""
    from tests.factories import _K1, _K2, _control

    made = []  # 15 October 1986 with month + 40, a fresh individual number
    for individual in range(100, 200):
        base = f"155086{individual:03d}"
        k1 = _control(base, _K1)
        k2 = None if k1 is None else _control(f"{base}{k1}", _K2)
        if k2 is not None:
            made.append(f"{base}{k1}{k2}")
    value = made[0]
    with pytest.raises(InvalidNationalId, match=r"^H-nummer \(hjelpenummer\) kan ikke brukes som pasientens identitet"):
        parse(value, allow_synthetic=False)
    assert parse(value, allow_synthetic=True).kind == IdKind.SYNTHETIC  # test data: NAV/Dolly's month + 40


def test_it_rejects_synthetic_numbers_when_not_allowed():
    with pytest.raises(InvalidNationalId, match="Syntetiske"):
        parse("01814500183", allow_synthetic=False)


def test_it_rejects_an_impossible_date_in_a_real_number():
    from tests.factories import _K1, _K2, _control

    base = "310286500"  # 31 February
    k1 = _control(base, _K1)
    if k1 is None:
        base = "310286501"
        k1 = _control(base, _K1)
    k2 = _control(base + str(k1), _K2)
    assert k2 is not None
    with pytest.raises(InvalidNationalId, match="fødselsdato"):
        parse(f"{base}{k1}{k2}", allow_synthetic=False)


def test_it_masks_all_but_the_birth_date():
    assert mask("01018012345") == "010180 *****"
    assert "12345" not in mask("01018012345")


@pytest.mark.parametrize("birth", [datetime.date(1941, 5, 12), datetime.date(1999, 12, 31), datetime.date(2004, 2, 29)])
def test_synthetic_numbers_pass_the_independent_check_digit_rule(birth):
    from patients.national_id import synthetic
    from tests.factories import _K1, _K2, _control

    made = [v for v in (synthetic(birth, i) for i in (range(500, 520) if birth.year >= 2000 else range(100, 120))) if v]
    assert made, "some individual number in 20 must give valid control digits"
    for value in made:
        assert int(value[2:4]) == birth.month + 80
        assert _control(value[:9], _K1) == int(value[9])
        assert _control(value[:10], _K2) == int(value[10])
        assert parse(value, allow_synthetic=True).birth_date == birth
