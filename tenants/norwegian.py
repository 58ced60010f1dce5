"""Norwegian text for numbers, money, percentages, dates and times: the one place each is written.

Every app may use it (tenants is the lowest layer), so a page, a PDF, a CSV file, the journal note and
an error message write «1 212,00 kr», «16,8 %», «38,5» and «06.12.2026 08:15» the same way. Pure
Python: no models, no settings.

- Numbers have a decimal comma; thousands are grouped with a no-break space (`NBSP`), so a figure is
  never broken over two lines. Measured values are not grouped (`number`).
- Money is kept in øre (an int) and shown in kroner: `kr` for people, `kroner` for machines (the API's
  amounts keep a decimal point; the CSV's are `plain`, a decimal comma, as Norwegian Excel reads them),
  `parse_kroner` for what a person typed.
- Dates and times are dd.mm.åååå and tt:mm, as Django's formats for the project's language
  (dho/formats/nb/formats.py; tests/tenants/test_norwegian.py keeps the two in agreement).
"""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from django.utils import timezone

NBSP = "\u00a0"  # a thousands gap (and the gap before «kr» and «%») that never breaks a line
MINUS = "\u2212"  # the typographic minus of a shown amount or percentage

DATE = "%d.%m.%Y"
TIME = "%H:%M"
DATETIME = f"{DATE} {TIME}"
DAY = "%d.%m."  # a day without its year, where the year is plain (a chart's axis, a retry today or tomorrow)


# Numbers


def grouped(whole: int) -> str:
    """«1 212», «4 500 000»: an integer with its thousands grouped."""
    return f"{whole:,}".replace(",", NBSP)


def plain(value: int | float | Decimal) -> str:
    """The value as written, decimal point made a comma, no grouping: «12,500», «0,1», «465»
    (a Decimal keeps its own places; a float is Python's shortest text for it)."""
    text = format(value, "f") if isinstance(value, Decimal) else str(value)
    return text.replace(".", ",")


def fixed(value: float, decimals: int) -> str:
    """Exactly `decimals` decimals, a comma and a typographic minus: «16,8», «−0,5», «1,0»."""
    return f"{value:.{decimals}f}".replace(".", ",").replace("-", MINUS)


def _side(value: float, bound: float) -> int:
    return (value > bound) - (value < bound)


def number(value: float, decimals: int | None = None, *, against: float | None = None) -> str:
    """A measured value: decimal comma, no trailing zeros («38,5», «88»).

    `decimals` rounds (a measurement type's `TypeSpec.decimals`); None keeps up to six significant
    digits. `against` is the bound the value was compared with: rounding never puts the value on or
    across it (never «SpO2 88 % – rød under 88» for 87.6), so decimals are added until it keeps its side.
    """
    if decimals is not None:
        shown = round(value, decimals)
        while against is not None and decimals < 3 and _side(shown, against) != _side(value, against):
            decimals += 1
            shown = round(value, decimals)
        value = shown
    return f"{value:g}".replace(".", ",")


def quantity(value: Decimal) -> str:
    """A counted or weighted quantity: «465», «477,5», «43,287», «1 212» (grouped, no trailing zeros)."""
    text = f"{value.normalize():f}" if value == value.to_integral() else f"{value:f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    shown = grouped(int(whole)) if whole.lstrip("-").isdigit() else whole
    return shown + ("," + decimals if decimals else "")


def percent(part: int, whole: int) -> str:
    """`part` of `whole` to one decimal: «16,8 %»; «–» when there is no whole to share."""
    if whole <= 0:
        return "–"
    return fixed(float(round(Fraction(part * 100, whole), 1)), 1) + NBSP + "%"


class WholeNumberError(ValueError):
    """Text that is not a whole number (message in Norwegian)."""


# Thousands gaps a Norwegian file or form may carry: a space, a no-break space, a narrow no-break
# space and a thin space (spreadsheets write either); «7.512», a dot between groups of three, too.
_GAPS = (" ", NBSP, "\u202f", "\u2009")


def parse_whole(text: object) -> int:
    """«7 512», «7 512» (no-break space), «7.512», «7512» → 7512. A decimal or anything else is refused."""
    cleaned = str(text).strip()
    for gap in _GAPS:
        cleaned = cleaned.replace(gap, "")
    groups = cleaned.split(".")
    if (
        len(groups) > 1
        and groups[0].isdigit()
        and len(groups[0]) <= 3
        and all(g.isdigit() and len(g) == 3 for g in groups[1:])
    ):
        cleaned = "".join(groups)
    if not cleaned.isascii() or not cleaned.isdigit():
        raise WholeNumberError(f"«{str(text).strip()[:40]}» er ikke et helt tall (for eksempel 7 512).")
    return int(cleaned)


# Money (øre in, kroner out)


def kr(ore: int, *, unit: bool = True) -> str:
    """«1 212,00 kr», «−45,50 kr» (grouped, decimal comma, typographic minus); «1 212,00» without unit."""
    sign = MINUS if ore < 0 else ""
    whole, rest = divmod(abs(int(ore)), 100)
    text = f"{sign}{grouped(whole)},{rest:02d}"
    return f"{text}{NBSP}kr" if unit else text


def kroner(ore: int) -> str:
    """«1212.00», «-45.50»: the machine-readable amount of the API and the exports."""
    sign = "-" if ore < 0 else ""
    whole, rest = divmod(abs(int(ore)), 100)
    return f"{sign}{whole}.{rest:02d}"


class AmountError(ValueError):
    """Text that is not an amount in kroner (message in Norwegian)."""


def parse_kroner(text: object) -> int:
    """«1 212,50», «1212.5», «1212» → 121250 øre; an amount with more than two decimals is refused."""
    cleaned = str(text).strip().replace(NBSP, "").replace(" ", "").replace(",", ".").removesuffix("kr")
    try:
        value: Decimal | None = Decimal(cleaned or "0")
    except InvalidOperation:
        value = None
    # Decimal reads «NaN» and «Infinity» too (and a quantize of them raises): not amounts either.
    if value is None or not value.is_finite() or value.adjusted() > 12:
        raise AmountError(f"«{text}» er ikke et beløp i kroner (for eksempel 1 212,00).")
    if value < 0:
        raise AmountError(f"«{text}»: beløpet kan ikke være negativt.")
    if value != value.quantize(Decimal("0.01")):
        raise AmountError(f"«{text}»: beløp har høyst to desimaler (øre).")
    return int(value * 100)


# Dates and times: an aware datetime is shown by the Norwegian clock, whatever zone it comes in


def _norwegian_clock(value):
    """An aware datetime as the clock in Norway shows it (the current time zone). The database gives
    its timestamps in UTC: formatted as they come, 21:20 in summer reads as 19:20, and a moment after
    midnight as the day before. Dates, times and naive datetimes are taken as they are."""
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        return timezone.localtime(value)
    return value


def date_text(value: datetime.date) -> str:
    """«06.12.2026» (a moment's date by the Norwegian clock)."""
    return _norwegian_clock(value).strftime(DATE)


def day_text(value: datetime.date) -> str:
    """«06.12.»."""
    return _norwegian_clock(value).strftime(DAY)


def time_text(value: datetime.time | datetime.datetime) -> str:
    """«08:15»."""
    return _norwegian_clock(value).strftime(TIME)


def datetime_text(value: datetime.datetime, *, kl: bool = False) -> str:
    """«06.12.2026 08:15», or «06.12.2026 kl. 08:15» in a sentence; by the Norwegian clock."""
    value = _norwegian_clock(value)
    return value.strftime(f"{DATE} kl. {TIME}" if kl else DATETIME)


def datetime_texts(values: list[datetime.datetime]) -> list[str]:
    """`datetime_text` of each value, the current time zone looked up once: a chart's table writes
    hundreds of moments, and looking the zone up for each was a tenth of a 90-day chart's time."""
    zone = timezone.get_current_timezone()
    return [
        (v.astimezone(zone) if isinstance(v, datetime.datetime) and v.utcoffset() is not None else v).strftime(DATETIME)
        for v in values
    ]
