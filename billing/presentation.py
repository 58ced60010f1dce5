"""How the tjenesteprismodell reads to people: month names, kroner as text, line labels, the
calculation and explanation beside each line, the status of a month, the overview's shares and
bars, the year table, the price model's versions and the koordinator's basis, for the pages, the
PDF, the CSV and the XLSX alike. billing.calculation computes and billing.selectors fetches; this
module only formats (billing.exports writes the files through tenants.spreadsheets, billing.views picks and renders)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from django.utils import timezone

from billing.calculation import Line, Month
from billing.models import BaseKey, Component, PriceModel
from billing.selectors import Allocation, KommuneBasis, MunicipalityAllocation, PatientBasis
from patients.models import DeviceType
from tenants.models import Municipality
from tenants.norwegian import datetime_text, kr
from tenants.norwegian import percent as percent_text
from tenants.norwegian import quantity as quantity_text
from tenants.people import display_name

MONTHS = (
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
)
STATUS = {"draft": "Utkast", "locked": "Låst"}
HEADER = (
    "Måned",
    "Status",
    "Kommunenummer",
    "Kommune",
    "Komponent",
    "Gjelder",
    "Korrigerer",
    "Referansemåned",
    "Antall",
    "Enhet",
    "Sats",
    "Divisor",
    "Beløp",
    "Forklaring",
)


def month_name(month: Month | datetime.date) -> str:
    """«oktober 2026»."""
    first = month.first if isinstance(month, Month) else month
    return f"{MONTHS[first.month - 1]} {first.year}"


def person(user) -> str:
    return display_name(user)


def locked_text(allocation: Allocation | KommuneBasis) -> str:
    """«Låst av Kari Nilsen 02.11.2026 kl. 10:15», or «UTKAST»."""
    if allocation.locked is None:
        return "UTKAST"
    at = timezone.localtime(allocation.locked.locked_at)
    return f"Låst av {person(allocation.locked.locked_by)} {datetime_text(at, kl=True)}"


# --- one line, as the page and the PDF show it ---------------------------------------------------


@dataclass(frozen=True)
class ShownLine:
    component: str  # «Utstyr: Pulsoksymeter», «Korrigering for september 2026: Oppfølging»
    quantity: str  # «465 pasientdøgn»
    rate: str
    calculation: str  # «465 pasientdøgn × 1 212,00 kr ÷ 31 = 18 180,00 kr»
    amount: str
    explanation: str
    is_adjustment: bool


def item_label(item: str) -> str:
    return str(dict(DeviceType.choices).get(item, item))


def component_label(line) -> str:
    if line.component == Component.ADJUSTMENT:
        corrected = Component(line.corrects).label if line.corrects else ""
        corrected += f": {item_label(line.item)}" if line.item else ""
        month = month_name(line.reference_month) if line.reference_month else ""
        return f"Korrigering for {month}: {corrected}" if corrected else f"Korrigering for {month}"
    label = str(Component(line.component).label)
    return f"{label}: {item_label(line.item)}" if line.item else label


def calculation_text(line) -> str:
    """Quantity × rate (÷ the month's days) = amount, where that is how the amount came about: the
    base share is a part of the base amount (its explanation says how), an adjustment a difference."""
    amount = kr(line.amount_ore)
    if line.component == Component.BASE:
        return f"andel av {kr(line.rate_ore)} = {amount}"
    if line.component == Component.ADJUSTMENT:
        return f"differanse {amount}"
    divisor = f" ÷ {line.divisor}" if line.divisor > 1 else ""
    return f"{quantity_text(line.quantity)} {line.unit} × {kr(line.rate_ore)}{divisor} = {amount}"


def shown_line(line) -> ShownLine:
    return ShownLine(
        component=component_label(line),
        quantity=f"{quantity_text(line.quantity)} {line.unit}",
        rate=kr(line.rate_ore),
        calculation=calculation_text(line),
        amount=kr(line.amount_ore),
        explanation=line.explanation,
        is_adjustment=line.component == Component.ADJUSTMENT,
    )


def group_view(group: MunicipalityAllocation) -> dict:
    """One kommune's lines and total as the month page shows them."""
    return {
        "municipality": group.municipality,
        "lines": [shown_line(line) for line in group.lines],
        "total": kr(group.total_ore),
    }


def price_model_from(allocation: Allocation) -> str:
    return month_name(allocation.price_model.valid_from) if allocation.price_model else ""


def locked_message(month: Month) -> str:
    return (
        f"{month_name(month).capitalize()} er låst. Tallene endres aldri "
        "igjen; senere endringer kommer som korrigeringslinjer i neste åpne måned."
    )


def price_model_saved_message(month: Month) -> str:
    return f"Prismodellen fra {month_name(month)} er lagret."


# --- CSV and XLSX: one row per kommune × component ------------------------------------------------


def plain_quantity(value: Decimal) -> Decimal:
    """31, 477.5: a quantity without trailing zeros (as the API gives it), still a number."""
    text = f"{value:f}"
    return Decimal(text.rstrip("0").rstrip(".") if "." in text else text)


def allocation_rows(allocation: Allocation) -> list[tuple]:
    """The data rows (without the header): amounts in øre, quantities as Decimal; the writers format."""
    rows = []
    for group in allocation.municipalities:
        for line in group.lines:
            rows.append(
                (
                    str(allocation.month),
                    STATUS[allocation.status],
                    group.municipality.number,
                    group.municipality.name,
                    str(Component(line.component).label),
                    item_label(line.item) if line.item else "",
                    str(Component(line.corrects).label) if line.corrects else "",
                    f"{line.reference_month:%Y-%m}" if line.reference_month else "",
                    Decimal(line.quantity),
                    line.unit,
                    line.rate_ore,
                    line.divisor,
                    line.amount_ore,
                    line.explanation,
                )
            )
    return rows


def made_at(allocation: Allocation) -> datetime.datetime:
    """The time a file says it was made: the lock's for a locked month (the same every time)."""
    return allocation.locked.locked_at if allocation.locked else timezone.now()


# --- the PDF per kommune ----------------------------------------------------------------------------


def basis_context(allocation: Allocation, group: MunicipalityAllocation) -> dict:
    model = allocation.price_model
    at = made_at(allocation)
    return {
        "centre": allocation.centre.name,
        "municipality": group.municipality,
        "month": month_name(allocation.month),
        "month_code": str(allocation.month),
        "price_model": (
            f"versjon gjeldende fra {month_name(model.valid_from)}" + (f" ({model.note})" if model.note else "")
        )
        if model
        else "ingen prismodell for måneden",
        "lines": [shown_line(line) for line in group.lines],
        "total": kr(group.total_ore),
        "locked": allocation.locked is not None,
        "status": locked_text(allocation),
        "made_at": timezone.localtime(at).isoformat(timespec="seconds"),
    }


# --- the months: the overview's shares and bars, the year table -------------------------------------

# The bars of the chart: dark enough for 3:1 against white; each bar is named in text beside it.
PALETTE = ("#1f4e79", "#a4161a", "#1e6b34", "#7a5200", "#5b3a8c", "#00677f", "#8a3b12", "#3d3d3d")


@dataclass
class Share:
    municipality: Municipality
    amount: str
    percent: str  # «12,3 %», or «–» when the month has nothing to share
    x: float = 0.0  # where the kommune's part of the month's bar starts and how wide it is (of 100)
    width: float = 0.0
    colour: str = ""


@dataclass
class MonthRow:
    allocation: object
    name: str
    url: str
    shares: list[Share] = field(default_factory=list)

    @property
    def total(self) -> str:
        return kr(self.allocation.total_ore)

    @property
    def summary(self) -> str:
        """The bar in words, for a screen reader."""
        parts = [f"{s.municipality.name} {s.percent}" for s in self.shares if s.width]
        return f"Fordeling {self.name}: " + (", ".join(parts) if parts else "ingen beløp")


def month_rows(allocations, url) -> tuple[list[Municipality], list[MonthRow]]:
    """Every kommune that appears in the months (columns) and, per month, each kommune's amount and
    share of the month's total, with where its part of the stacked bar lies."""
    seen = {g.municipality.pk: g.municipality for a in allocations for g in a.municipalities}
    municipalities = sorted(seen.values(), key=lambda m: m.name)
    colours = {m.pk: PALETTE[i % len(PALETTE)] for i, m in enumerate(municipalities)}
    rows = []
    for allocation in allocations:
        totals = {g.municipality.pk: g.total_ore for g in allocation.municipalities}
        positive = sum(v for v in totals.values() if v > 0)
        row, x = MonthRow(allocation, month_name(allocation.month), url(str(allocation.month))), 0.0
        for m in municipalities:
            amount = totals.get(m.pk)
            share = Share(m, kr(amount) if amount is not None else "–", percent_text(amount or 0, allocation.total_ore))
            if amount and amount > 0 and positive:
                share.x, share.width, share.colour = x, float(Fraction(amount * 100, positive)), colours[m.pk]
                x += share.width
            row.shares.append(share)
        rows.append(row)
    return municipalities, rows


def legend(municipalities) -> list[tuple[Municipality, str]]:
    """Each kommune with its bar colour, in the overview's column order."""
    return [(m, PALETTE[i % len(PALETTE)]) for i, m in enumerate(municipalities)]


def year_table(months, allocations: dict, url) -> dict:
    """A row per month (linked, with its status) holding each kommune's amount («–»: not begun or
    nothing) and the month's total; the foot holds each kommune's year and the year's total, all as
    Norwegian text. Kommuner are the columns, as on the overview, so twelve months fit a laptop."""
    sums: dict[int, dict[Month, int]] = {}
    names = {}
    for month, allocation in allocations.items():
        for group in allocation.municipalities:
            names[group.municipality.pk] = group.municipality
            sums.setdefault(group.municipality.pk, {})[month] = group.total_ore
    order = sorted(names, key=lambda pk: names[pk].name)
    rows = [
        {
            "name": month_name(m),
            "url": url(str(m)),
            "status": STATUS[allocations[m].status] if m in allocations else "",
            "cells": [kroner_text(sums[pk][m]) if m in sums[pk] else "–" for pk in order],
            "total": kroner_text(allocations[m].total_ore) if m in allocations else "–",
        }
        for m in months
    ]
    return {
        "municipalities": [names[pk] for pk in order],
        "rows": rows,
        "foot": [kroner_text(sum(sums[pk].values())) for pk in order],
        "total": kroner_text(sum(a.total_ore for a in allocations.values())),
    }


def kroner_text(ore: int) -> str:
    """«2 208,00»: the year's table says once that its amounts are kroner, so twelve columns fit."""
    return kr(ore, unit=False)


# --- the price model's versions and its simulation --------------------------------------------------


def signed(ore: int) -> str:
    return ("+" if ore > 0 else "") + kr(ore)


def version_view(model: PriceModel, current: bool, locked: bool) -> dict:
    """A version's components as Norwegian text, for the versions table."""
    equipment = [
        f"{item_label(code)} {kr(int(ore))}" for code, ore in sorted((model.equipment_ore or {}).items()) if ore
    ]
    key = BaseKey(model.base_key).label
    if model.base_key == BaseKey.MIXED:
        key = f"{model.base_equal_percent} % likt, {100 - model.base_equal_percent} % etter innbyggertall"
    return {
        "model": model,
        "from": month_name(model.valid_from),
        "current": current,
        "locked": locked,
        "base": f"{kr(model.base_ore)} ({key})" if model.base_ore else "–",
        "follow_up": kr(model.follow_up_ore) if model.follow_up_ore else "–",
        "paused": f"{model.paused_percent} %",
        "licence": kr(model.licence_ore) if model.licence_ore else "–",
        "equipment": ", ".join(equipment) or "–",
        "start_fee": kr(model.start_fee_ore) if model.start_fee_ore else "–",
        "by": person(model.created_by) if model.created_by else "",
    }


def simulation_view(month: Month, draft: PriceModel, rows: list[dict]) -> dict:
    """The simulation's rows (billing.selectors.simulate, the viewer's kommuner) as text, with sums."""
    current, proposed = sum(r["current"] for r in rows), sum(r["draft"] for r in rows)
    return {
        "month": month_name(month),
        "draft": version_view(draft, False, False),
        "rows": [
            {
                "municipality": r["municipality"],
                "current": kr(r["current"]),
                "draft": kr(r["draft"]),
                "difference": signed(r["difference"]),
            }
            for r in rows
        ],
        "current": kr(current),
        "proposed": kr(proposed),
        "difference": signed(proposed - current),
    }


# --- the koordinator's basis ---------------------------------------------------------------------------


def basis_view(basis: KommuneBasis) -> dict:
    """The basis as the page shows it: the patients with their part of the amounts, the kommune's lines
    (a locked month's as stored), the adjustments of later months naming the month, and the check
    that the patients add up to the lines."""
    return {
        "basis": [patient_row(row) for row in basis.patients],
        "others": patient_row(basis.others) if basis.others else None,
        "lines": [shown_line(line) for line in basis.sent],
        "total": kr(sum(line.amount_ore for line in basis.sent)),
        "adjustments": [
            {"line": shown_line(line), "in": month_name(month), "status": STATUS[status]}
            for line, month, status in basis.adjustments
        ],
        "checks": [check_row(basis, line) for line in basis.breakdown.lines],
        "adds_up": basis.adds_up,
        "status_text": locked_text(basis),
    }


def patient_row(row: PatientBasis) -> dict:
    return {
        "patient": row.patient,
        "count": row.count,
        "active_days": row.active_days,
        "paused_days": row.paused_days,
        "started": row.started,
        "devices": row.devices,
        "amount": kr(row.amount_ore),
    }


def check_row(basis: KommuneBasis, line: Line) -> dict:
    """One line beside the sum of its patients' parts: quantity and amount."""
    quantity = basis.breakdown.quantity(line)
    summed = Decimal(quantity.numerator) / Decimal(quantity.denominator)
    return {
        "component": component_label(line),
        "quantity": f"{quantity_text(Decimal(line.quantity))} {line.unit}",
        "patients_quantity": f"{quantity_text(summed)} {line.unit}",
        "amount": kr(line.amount_ore),
        "patients_amount": kr(basis.breakdown.amount_ore(line)),
        "adds_up": basis.breakdown.adds_up(line),
    }
