"""Writes of the tjenesteprismodell: locking a month (its lines stored as sent) and the price model's
versions. Refusals are BillingRefused with a Norwegian message (a 400 in the API, shown on the page)."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from billing.calculation import Month
from billing.models import (
    EQUIPMENT_FIELD,
    MONEY_FIELDS,
    PERCENT_FIELDS,
    PRICE_FIELDS,
    LockedLine,
    LockedMonth,
    PriceModel,
)
from billing.selectors import FinanceView, allocation_for, price_model_centres
from tenants.errors import NotAllowed, Refused
from tenants.models import AuditAction, Centre
from tenants.services import audit_record


class BillingRefused(Refused):
    """The step cannot be made as asked (message in Norwegian, safe to show)."""


class PriceModelAdminRequired(NotAllowed):
    """Only the centre's admin changes its price model; finance simulates, which stores nothing (a 403)."""


@transaction.atomic
def month_lock(*, view: FinanceView, month: Month, user, request=None) -> LockedMonth:
    """Lock a month that has ended: its lines, adjustments included, are stored as they are now and
    never change again. Only the centre's finance locks (a kommune's finance reads)."""
    if not view.can_lock:
        raise BillingRefused("Bare senterets økonomiansvarlige kan låse en måned.")
    centre = Centre.objects.select_for_update().get(pk=view.centre.pk)  # one lock at a time per centre
    if month.end > timezone.localdate():
        raise BillingRefused(f"{month} er ikke over ennå: en måned kan låses fra dagen etter siste dag.")
    if LockedMonth.objects.filter(centre=centre, month=month.first).exists():
        raise BillingRefused(f"{month} er allerede låst.")
    allocation = allocation_for(centre, month)
    if allocation.price_model is None:
        raise BillingRefused(f"Ingen prismodell gjelder for {month}: legg inn en prismodell før måneden låses.")
    locked = LockedMonth.objects.create(
        centre=centre, month=month.first, price_model=allocation.price_model, total_ore=allocation.total_ore,
        locked_by=user,
    )  # fmt: skip
    LockedLine.objects.bulk_create(_stored(locked, position, line) for position, line in enumerate(allocation.lines))
    audit_record(action=AuditAction.UPDATE, object_type="billing_month", object_id=f"{centre.slug}/{month}",
                 request=request, user=user)  # fmt: skip
    return locked


def _stored(locked: LockedMonth, position: int, line) -> LockedLine:
    return LockedLine(
        locked_month=locked, municipality_id=line.municipality_id, position=position, component=line.component,
        item=line.item, corrects=line.corrects, reference_month=line.reference_month, quantity=line.quantity,
        unit=line.unit, rate_ore=line.rate_ore, divisor=line.divisor, amount_ore=line.amount_ore,
        explanation=line.explanation,
    )  # fmt: skip


def _check_prices(values: dict) -> None:
    for name in MONEY_FIELDS:
        if int(values.get(name) or 0) < 0:
            raise BillingRefused("Beløp kan ikke være negative.")
    for name in PERCENT_FIELDS:
        if not 0 <= int(values.get(name) or 0) <= 100:
            raise BillingRefused("En prosent må ligge mellom 0 og 100.")
    if any(int(v) < 0 for v in (values.get(EQUIPMENT_FIELD) or {}).values()):
        raise BillingRefused("Utstyrspriser kan ikke være negative.")


@transaction.atomic
def price_model_save(*, centre: Centre, user, valid_from: datetime.date, values: dict, request=None) -> PriceModel:
    """A new version from a month, by the centre's admin: the only write of the price table (a
    simulation is computed in memory, billing.selectors.simulation). A version already in effect for
    that month is changed only while no locked month uses it; a new version may not start in a
    month that is locked (a locked month keeps the model it was computed with)."""
    _readable, editable = price_model_centres(user)
    if centre.pk not in editable:
        raise PriceModelAdminRequired("Bare senterets administrator kan endre prismodellen.")
    _check_prices(values)
    month = Month.of(valid_from)
    if LockedMonth.objects.filter(centre=centre, month__gte=month.first).exists():
        raise BillingRefused(
            f"{month} eller en senere måned er låst: en ny versjon av prismodellen må gjelde fra en måned etter "
            "siste låste måned."
        )
    existing = PriceModel.objects.filter(centre=centre, valid_from=month.first).first()
    model = existing or PriceModel(centre=centre, valid_from=month.first, created_by=user)
    for name in PRICE_FIELDS:
        if name in values:
            setattr(model, name, values[name])
    model.save()
    audit_record(action=AuditAction.UPDATE if existing else AuditAction.CREATE, object_type="price_model",
                 object_id=model.pk, request=request, user=user)  # fmt: skip
    return model
