"""Norwegian national identity numbers: fødselsnummer, D-nummer and synthetic test numbers.

Pure functions, no Django: used by the patient model's validator, the API, FHIR subject lookup and the
centre admin's HelseID binding (tenants/persons.py). patients/national_id.py re-exports them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from enum import StrEnum

K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


class IdKind(StrEnum):
    FNR = "fnr"  # fødselsnummer
    DNR = "dnr"  # D-nummer: day + 40
    SYNTHETIC = "synthetic"  # test numbers: month + 80 (Tenor) or + 40 (NAV/Dolly; an H-nummer in production)


class InvalidNationalId(ValueError):
    """The message is Norwegian and safe to show a user (it never repeats the number)."""


@dataclass(frozen=True)
class NationalId:
    value: str
    kind: IdKind
    birth_date: datetime.date | None  # None only for a synthetic number that is no real date

    @property
    def masked(self) -> str:
        return mask(self.value)


def mask(value: str) -> str:
    """`01018012345` → `010180 *****`: the birth date stays readable, the person number does not."""
    return f"{value[:6]} *****" if len(value) == 11 else "*****"


def _control_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    control = 11 - remainder
    if control == 11:
        return 0
    return None if control == 10 else control


def _k1_ok(digits: str) -> bool:
    # Classic rule: the weighted sum including K1 (weight 1) is divisible by 11. From 2032 new numbers
    # may leave a remainder of 0–3 (Skatteetaten's new rule); that set includes the classic one.
    weighted = sum(int(d) * w for d, w in zip(digits[:10], (*K1_WEIGHTS, 1), strict=True))
    return weighted % 11 in (0, 1, 2, 3)


def _k2_ok(digits: str) -> bool:
    return _control_digit(digits[:10], K2_WEIGHTS) == int(digits[10])


def _century(year2: int, individual: int) -> int | None:
    if individual <= 499:
        return 1900
    if individual <= 749 and year2 >= 54:
        return 1800
    if year2 <= 39:
        return 2000
    if individual >= 900:
        return 1900
    return None


def parse(value: str, *, allow_synthetic: bool) -> NationalId:
    """Validate a fødselsnummer / D-nummer and derive the birth date, or raise InvalidNationalId."""
    digits = (value or "").replace(" ", "")
    if len(digits) != 11 or not digits.isdigit():
        raise InvalidNationalId("Fødselsnummer må ha nøyaktig 11 sifre.")
    if digits[0] in "89":
        raise InvalidNationalId("FH-nummer kan ikke brukes som pasientens identitet her.")
    if not (_k1_ok(digits) and _k2_ok(digits)):
        raise InvalidNationalId("Kontrollsifrene stemmer ikke; sjekk at fødselsnummeret er skrevet riktig.")

    day, month, year2 = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    kind = IdKind.FNR
    if day > 40:
        kind, day = IdKind.DNR, day - 40
    if month > 80:
        kind, month = IdKind.SYNTHETIC, month - 80
    elif month > 40:
        kind, month = IdKind.SYNTHETIC, month - 40
    if kind is IdKind.SYNTHETIC and not allow_synthetic:
        if int(digits[2:4]) <= 80:  # month + 40: outside test data an H-nummer (NAV/Dolly's test numbers share it)
            raise InvalidNationalId(
                "H-nummer (hjelpenummer) kan ikke brukes som pasientens identitet her; bruk fødselsnummer eller "
                "D-nummer."
            )
        raise InvalidNationalId("Syntetiske testnumre er ikke tillatt i produksjon.")

    century = _century(year2, int(digits[6:9]))
    birth_date = None
    if century is not None:
        try:
            birth_date = datetime.date(century + year2, month, day)
        except ValueError:
            birth_date = None
    if birth_date is None and kind is not IdKind.SYNTHETIC:
        raise InvalidNationalId("Fødselsnummeret inneholder ingen gyldig fødselsdato.")
    return NationalId(value=digits, kind=kind, birth_date=birth_date)


def is_d_number(value: str) -> bool:
    """Whether an 11-digit number (already valid) is a D-nummer: the day plus 40, so its first digit
    is 4–7. A synthetic test number keeps that rule (its month carries the test mark), so a test
    D-nummer is a D-nummer here, where `parse` calls it synthetic."""
    return value[:1] in ("4", "5", "6", "7")


def synthetic(birth: datetime.date, individual: int, month_offset: int = 80) -> str | None:
    """The synthetic test number (month + 80, or + 40) for this birth date and individual number (100–499 for
    1900–1999, 500–999 for 2000–2039), or None when that individual number gives no valid control digit.
    Such numbers can never belong to a real person: used by tests and the demo data."""
    base = f"{birth.day:02d}{birth.month + month_offset:02d}{birth.year % 100:02d}{individual:03d}"
    k1 = _control_digit(base, K1_WEIGHTS)
    if k1 is None:
        return None
    k2 = _control_digit(base + str(k1), K2_WEIGHTS)
    return None if k2 is None else f"{base}{k1}{k2}"
