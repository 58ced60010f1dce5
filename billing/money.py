"""Øre as text: Norwegian on pages and in PDFs («1 212,00 kr»), plain decimals in the API, CSV and
XLSX («1212.00»), and kroner typed into a form read back as øre without float rounding."""

from decimal import Decimal, InvalidOperation

NBSP = "\u00a0"  # a thousands gap that never breaks a figure over two lines


def kroner(ore: int) -> str:
    """«1212.00», «-45.50»: the API's and the exports' amount."""
    sign = "-" if ore < 0 else ""
    whole, rest = divmod(abs(int(ore)), 100)
    return f"{sign}{whole}.{rest:02d}"


def kr(ore: int, *, unit: bool = True) -> str:
    """«1 212,00 kr» (Norwegian grouping and decimal comma)."""
    sign = "−" if ore < 0 else ""
    whole, rest = divmod(abs(int(ore)), 100)
    text = f"{sign}{whole:,}".replace(",", NBSP) + f",{rest:02d}"
    return f"{text}{NBSP}kr" if unit else text


def quantity_text(value: Decimal) -> str:
    """A line's quantity in Norwegian: «465», «477,5», «43,287»."""
    text = f"{value.normalize():f}" if value == value.to_integral() else f"{value:f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    grouped = f"{int(whole):,}".replace(",", NBSP) if whole.lstrip("-").isdigit() else whole
    return grouped + ("," + decimals if decimals else "")


class AmountError(ValueError):
    """Text that is not an amount in kroner (message in Norwegian)."""


def parse_kroner(text) -> int:
    """«1 212,50», «1212.5», «1212» → 121250 øre; an amount with more than two decimals is refused."""
    cleaned = str(text).strip().replace(NBSP, "").replace(" ", "").replace(",", ".").removesuffix("kr")
    try:
        value = Decimal(cleaned or "0")
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
